import { backoffMs, sleep } from "../util/clock.ts";

/** How often and how patiently a store call is retried. */
export interface RetryPolicy {
  /** Calls in all, the first one included (at least 1). */
  attempts: number;
  /** Backoff before the first retry, in ms; it doubles per retry, with jitter. */
  baseDelayMs: number;
  /** Largest backoff between two calls, in ms. */
  maxDelayMs: number;
}

/** The default store retry policy: 6 calls over about 6 s of backoff at most. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 5_000 };

/** What {@link retry} ended with. */
export type RetryOutcome<T> =
  | { ok: true; value: T; attempts: number }
  | {
      ok: false;
      /** The last error thrown. */
      error: unknown;
      /** Calls made. */
      attempts: number;
      /** True when the last error was transient (so the attempts ran out), false when it was not. */
      transient: boolean;
    };

/** Options of {@link retry}, beyond the policy. */
export interface RetryHooks {
  /** True when `err` may go away by itself (throttling, 5xx, a network error). */
  isTransient(err: unknown): boolean;
  /** Called before each backoff, with the failed attempt (1-based) and the delay in ms. */
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  /** Ends the waiting early; the outcome is then the last failure. */
  signal?: AbortSignal;
}

/**
 * Calls `fn` until it succeeds, throws an error that is not transient, or `policy.attempts`
 * calls were made, sleeping an exponential backoff with jitter ({@link backoffMs}) in between.
 * Never throws: the caller maps the outcome to its own errors.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks,
): Promise<RetryOutcome<T>> {
  const attempts = Math.max(1, Math.floor(policy.attempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await fn(attempt), attempts: attempt };
    } catch (error) {
      const transient = hooks.isTransient(error);
      if (!transient || attempt >= attempts || hooks.signal?.aborted) {
        return { ok: false, error, attempts: attempt, transient };
      }
      const delayMs = backoffMs(attempt - 1, policy.baseDelayMs, policy.maxDelayMs);
      hooks.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, hooks.signal);
    }
  }
}
