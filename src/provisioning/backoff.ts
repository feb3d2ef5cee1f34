export interface BackoffOptions {
  /** Delay before the first retry, before jitter. Default 1 s. */
  baseMs?: number;
  /** Upper bound of any delay. Default 5 min. */
  maxMs?: number;
  /** Source of jitter in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Delay before retrying after `attempts` failed runs: base * 2^(attempts-1), capped, with
 * "equal jitter" (half fixed, half random) so many jobs failing together against one target
 * do not retry in lockstep, while the delay still grows with every failure.
 */
export function backoffDelay(attempts: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 1000;
  const max = options.maxMs ?? 300_000;
  const random = options.random ?? Math.random;
  const exponential = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
