/** Time source, injected so that tests can control it. */
export interface Clock {
  /** Wall-clock time in ms since the epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** Resolves after `ms` milliseconds, or early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Exponential backoff with full jitter: attempt 0 → up to `base` ms, capped at `max` ms. */
export function backoffMs(attempt: number, base = 200, max = 10_000): number {
  const cap = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return Math.floor(cap / 2 + Math.random() * (cap / 2));
}
