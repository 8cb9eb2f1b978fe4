/**
 * A figure rounded to `digits` decimals for the result line; null for NaN or ±Infinity, which JSON cannot hold
 * (a figure that could not be measured shows as null rather than as a made-up number).
 */
export const round = (n: number, digits = 2): number | null => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);
