import type { Database } from "bun:sqlite";

const FINAL = new Set(["finished", "failed", "cancelled"]);

/**
 * The counters behind stats() and countEnded(): tasks per stage and status, and endings per 10 s. Every
 * status change in sqlite.ts calls moved() in the same transaction (a randomized test compares them with
 * GROUP BY counts). Kept from code, not triggers: a trigger firing on the tasks table cost ~20 µs.
 */
export function moved(db: Database, stage: string, from: string | null, to: string | null, at = Date.now()): void {
  if (from === to) return;
  const acc = pending.get(db);
  if (acc) {
    if (from) acc.n.set(`${stage}\0${from}`, (acc.n.get(`${stage}\0${from}`) ?? 0) - 1);
    if (to) acc.n.set(`${stage}\0${to}`, (acc.n.get(`${stage}\0${to}`) ?? 0) + 1);
    if (to && FINAL.has(to)) {
      const b = Math.floor(at / 10_000);
      const e = acc.ended.get(`${stage}\0${b}`) ?? { stage, b, f: 0, x: 0 };
      if (to === "finished") e.f++;
      else e.x++;
      acc.ended.set(`${stage}\0${b}`, e);
    }
    return;
  }
  if (from) db.query("UPDATE task_counts SET n = n - 1 WHERE stage = ? AND status = ?").run(stage, from);
  if (to) db.query("INSERT INTO task_counts (stage, status, n) VALUES (?, ?, 1) ON CONFLICT (stage, status) DO UPDATE SET n = n + 1").run(stage, to);
  if (to && FINAL.has(to))
    db.query(
      `INSERT INTO ended_buckets (stage, bucket, finished, failed) VALUES (?, ?, ?, ?)
       ON CONFLICT (stage, bucket) DO UPDATE SET finished = finished + excluded.finished, failed = failed + excluded.failed`,
    ).run(stage, Math.floor(at / 10_000), to === "finished" ? 1 : 0, to === "finished" ? 0 : 1);
}

interface Pending {
  n: Map<string, number>;
  ended: Map<string, { stage: string; b: number; f: number; x: number }>;
}
const pending = new WeakMap<Database, Pending>();

/**
 * Run fn (inside a write transaction) with its counter changes summed and written once at its end: a
 * claim and a completion in one transaction move a task queued → started → finished, and the started
 * counter's -1 and +1 cancel out; a group commit of several tasks writes each counter once. If fn throws,
 * nothing is written (the caller's transaction rolls back anyway).
 */
export function withCounts<T>(db: Database, fn: () => T): T {
  if (pending.has(db)) return fn();
  const acc: Pending = { n: new Map(), ended: new Map() };
  pending.set(db, acc);
  try {
    const out = fn();
    pending.delete(db);
    for (const [k, d] of acc.n) {
      const cut = k.lastIndexOf("\0");
      const [stage, status] = [k.slice(0, cut), k.slice(cut + 1)];
      if (d < 0) db.query("UPDATE task_counts SET n = n + ? WHERE stage = ? AND status = ?").run(d, stage, status);
      else if (d > 0)
        db.query("INSERT INTO task_counts (stage, status, n) VALUES (?, ?, ?) ON CONFLICT (stage, status) DO UPDATE SET n = n + excluded.n").run(stage, status, d);
    }
    for (const e of acc.ended.values())
      db.query(
        `INSERT INTO ended_buckets (stage, bucket, finished, failed) VALUES (?, ?, ?, ?)
         ON CONFLICT (stage, bucket) DO UPDATE SET finished = finished + excluded.finished, failed = failed + excluded.failed`,
      ).run(e.stage, e.b, e.f, e.x);
    return out;
  } finally {
    pending.delete(db);
  }
}
