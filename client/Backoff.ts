/** How long to wait between reconnect attempts. */
export interface BackoffOptions {
  /**
   * Ceiling of the first wait, in milliseconds.
   * @defaultValue 200
   */
  initialMs?: number;
  /**
   * Largest ceiling, in milliseconds.
   * @defaultValue 10000
   */
  maxMs?: number;
  /**
   * Growth of the ceiling per failed attempt.
   * @defaultValue 2
   */
  factor?: number;
}

/**
 * Exponential backoff with full jitter: attempt `n` (0-based) waits a uniformly random time in
 * `[0, min(maxMs, initialMs * factor^n))`, so clients dropped together do not come back together.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;

  constructor(
    opts: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialMs = opts.initialMs ?? 200;
    this.maxMs = opts.maxMs ?? 10_000;
    this.factor = opts.factor ?? 2;
    if (!(this.initialMs >= 0 && this.maxMs >= this.initialMs && this.factor >= 1)) {
      throw new RangeError('backoff needs 0 <= initialMs <= maxMs and factor >= 1');
    }
  }

  /** The ceiling of attempt `n`. */
  ceiling(attempt: number): number {
    return Math.min(this.maxMs, this.initialMs * this.factor ** attempt);
  }

  /** A random wait for attempt `n`, in milliseconds. */
  delay(attempt: number): number {
    return Math.floor(this.random() * this.ceiling(attempt));
  }
}
