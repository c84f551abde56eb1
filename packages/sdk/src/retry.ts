import { isCairnError } from "@cairn/contract";

/** How transient failures are retried. */
export interface RetryOptions {
  /** Retries after the first attempt (default 4, so 5 attempts in all). */
  retries: number;
  /** Delay before the first retry, doubled each time (default 250 ms). */
  minDelayMs: number;
  /** Upper bound on one delay (default 5 s). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 4, minDelayMs: 250, maxDelayMs: 5_000 };

/**
 * Whether an error is worth retrying: the server could not be reached, answered 5xx
 * (except NOT_IMPLEMENTED) or asked us to slow down (429). A 4xx never is.
 */
export function isRetryable(e: unknown): boolean {
  if (!isCairnError(e)) return false;
  if (e.code === "NOT_IMPLEMENTED") return false;
  return e.status >= 500 || e.status === 429;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, retrying transient failures (see `isRetryable`) with exponential backoff and jitter.
 * @example await withRetry(() => client.api.getRun({ params: { id } }))
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: Partial<RetryOptions> = {}): Promise<T> {
  const o = { ...DEFAULT_RETRY, ...opts };
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= o.retries || !isRetryable(e)) throw e;
      const base = Math.min(o.maxDelayMs, o.minDelayMs * 2 ** attempt);
      // Jitter (50–100 % of the delay) keeps many clients from retrying in lockstep.
      await sleep(base / 2 + Math.random() * (base / 2));
    }
  }
}
