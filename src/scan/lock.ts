import { conflict } from "../core/errors.ts";
import type { Queue } from "../queue/types.ts";

/** Lock key for one target, whatever the ports: the same target is never scanned twice at once. */
export function targetLockKey(ip: string): string {
  return `scan:${ip}`;
}

/**
 * Hold a queue lock (works on the SQLite and Redis backends) while fn runs, renewing it at a
 * third of its TTL. Refuses with a conflict when someone else holds it. When a renewal finds the
 * lock expired or taken, or the queue errs until the lock would have run out, the signal given to fn
 * aborts: the work must stop, since another may now hold the target. With `wait`, a held lock is waited for (until
 * that signal aborts) instead of refused.
 */
export async function withLock<T>(queue: Queue | undefined, key: string, owner: string, ttlMs: number, o: { wait?: AbortSignal }, fn: (lost?: AbortSignal) => Promise<T>): Promise<T> {
  if (!queue) return fn();
  for (let delay = 100; !(await queue.acquireLock(key, owner, ttlMs)); delay = Math.min(delay * 2, 2000)) {
    if (!o.wait || o.wait.aborted) throw conflict(`${key.replace(/^scan:/, "")} is being scanned by someone else (lock held)`);
    await new Promise<void>((res) => {
      const t = setTimeout(done, delay);
      function done() { clearTimeout(t); o.wait!.removeEventListener("abort", done); res(); }
      o.wait!.addEventListener("abort", done, { once: true });
    });
  }
  const lost = new AbortController();
  const every = Math.max(250, ttlMs / 3);
  // Until when the lock is ours for certain: from the moment a renewal that succeeded was sent.
  let heldUntil = Date.now() + ttlMs;
  const lose = (why: string) => {
    if (!lost.signal.aborted) lost.abort(conflict(`lost the lock on ${key.replace(/^scan:/, "")} (${why}): stopped`));
  };
  const renew = async () => {
    const sent = Date.now();
    try {
      if (await queue.renewLock(key, owner, ttlMs)) heldUntil = Math.max(heldUntil, sent + ttlMs);
      else lose("it expired or was taken");
    } catch (e) {
      // A queue error (Redis restarting, a busy SQLite file) is not a lost lock: the work goes on while the lock
      // still holds, and stops only when no renewal could succeed before it runs out.
      if (Date.now() + every >= heldUntil) lose(`renewal failed: ${(e as Error).message}`);
    }
  };
  const timer = setInterval(() => void renew(), every);
  try {
    return await fn(lost.signal);
  } finally {
    clearInterval(timer);
    await queue.releaseLock(key, owner).catch(() => {});
  }
}
