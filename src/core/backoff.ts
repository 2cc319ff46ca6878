/**
 * The one backoff: exponential from `baseMs`, doubling (or `factor`) per attempt, capped at `maxMs`, with
 * optional jitter so that many clients that failed together do not retry together.
 * Used for task retries, reconnects, crash restarts, upload retries and lock waits.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Growth per attempt (default 2). 1 gives a constant delay. */
  factor?: number;
  /** Fraction of the delay drawn at random and taken off: 0 (default) none, 1 "full jitter". */
  jitter?: number;
  /** Source of randomness in [0, 1) (tests pass a fixed one). */
  random?: () => number;
}

/** Delay before retry number `attempt` (1-based): base·factor^(attempt-1), capped, minus jitter. */
export function backoffDelay(attempt: number, o: BackoffOptions): number {
  const factor = o.factor ?? 2;
  const n = Math.max(0, Math.floor(attempt) - 1);
  // Cap the exponent before it overflows to Infinity.
  const raw = o.baseMs * factor ** Math.min(n, 60);
  const capped = Math.min(o.maxMs, Number.isFinite(raw) ? raw : o.maxMs);
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0));
  if (jitter === 0) return Math.round(capped);
  const r = (o.random ?? Math.random)();
  return Math.round(capped * (1 - jitter * r));
}

/** Stateful form: `next()` gives the next delay, `reset()` after a success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly o: BackoffOptions) {}
  next(): number {
    this.attempt++;
    return backoffDelay(this.attempt, this.o);
  }
  reset(): void {
    this.attempt = 0;
  }
  get attempts(): number {
    return this.attempt;
  }
  /** Wait the next delay, or less if `signal` aborts first. */
  async wait(signal?: AbortSignal): Promise<void> {
    const ms = this.next();
    if (signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
