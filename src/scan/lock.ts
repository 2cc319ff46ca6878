import { conflict } from "../core/errors.ts";
import type { Queue } from "../queue/types.ts";

/** Lock key for one target and port set: the same target is never scanned twice at once. */
export function targetLockKey(ip: string, ports: string): string {
  return `scan:${ip}:${ports}`;
}

/**
 * Hold a queue lock (works on the SQLite and Redis backends) while fn runs, renewing it
 * at a third of its TTL. Refuses with a conflict when someone else holds it.
 */
export async function withLock<T>(queue: Queue | undefined, key: string, owner: string, ttlMs: number, fn: () => Promise<T>): Promise<T> {
  if (!queue) return fn();
  if (!(await queue.acquireLock(key, owner, ttlMs))) throw conflict(`${key.replace(/^scan:/, "")} is being scanned by someone else (lock held)`);
  const timer = setInterval(() => void queue.renewLock(key, owner, ttlMs).catch(() => {}), Math.max(1000, ttlMs / 3));
  try {
    return await fn();
  } finally {
    clearInterval(timer);
    await queue.releaseLock(key, owner).catch(() => {});
  }
}
