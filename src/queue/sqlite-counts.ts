import type { Database } from "bun:sqlite";

const FINAL = new Set(["finished", "failed", "cancelled"]);

/**
 * The counters behind stats() and countEnded(): tasks per stage and status, and endings per 10 s. Every
 * status change in sqlite.ts calls moved() in the same transaction (a randomized test compares them with
 * GROUP BY counts). Kept from code, not triggers: a trigger firing on the tasks table cost ~20 µs.
 */
export function moved(db: Database, stage: string, from: string | null, to: string | null, at = Date.now()): void {
  if (from === to) return;
  if (from) db.query("UPDATE task_counts SET n = n - 1 WHERE stage = ? AND status = ?").run(stage, from);
  if (to) db.query("INSERT INTO task_counts (stage, status, n) VALUES (?, ?, 1) ON CONFLICT (stage, status) DO UPDATE SET n = n + 1").run(stage, to);
  if (to && FINAL.has(to))
    db.query(
      `INSERT INTO ended_buckets (stage, bucket, finished, failed) VALUES (?, ?, ?, ?)
       ON CONFLICT (stage, bucket) DO UPDATE SET finished = finished + excluded.finished, failed = failed + excluded.failed`,
    ).run(stage, Math.floor(at / 10_000), to === "finished" ? 1 : 0, to === "finished" ? 0 : 1);
}
