/** Resolves after `ms` milliseconds: the benchmarks' waits between polls and phases. */
export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));
