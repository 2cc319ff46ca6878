import type { Database } from "bun:sqlite";
import { BUCKET_STATUSES } from "./retention-rules.ts";
import { moved } from "./sqlite-counts.ts";
import type { PruneOptions } from "./types.ts";

/**
 * Deletion of ended tasks in small batches, each its own short transaction (the caller loops and
 * yields between batches, so claims never wait long). Walks tasks_ended (stage, status, finished_at)
 * from the oldest end; counts come from task_counts, never from counting rows.
 */
export function pruneBatch(db: Database, o: PruneOptions): number {
  const statuses = BUCKET_STATUSES[o.bucket];
  const limit = Math.max(1, Math.min(o.limit, 10_000));
  return db.transaction(() => {
    let excess = 0;
    if (o.keepNewest !== undefined) {
      const n = statuses.reduce(
        (s, st) => s + ((db.query("SELECT n FROM task_counts WHERE stage = ? AND status = ?").get(o.stage, st) as { n: number } | null)?.n ?? 0),
        0,
      );
      excess = Math.max(0, n - o.keepNewest);
    }
    // The oldest of each status, merged: a sort of at most limit·statuses keys, whatever the history.
    const cand: { r: number; f: number; st: string }[] = [];
    const q = db.query(
      `SELECT rowid AS r, finished_at AS f FROM tasks INDEXED BY tasks_ended
       WHERE stage = ? AND status = ? AND finished_at IS NOT NULL AND worker IS NULL ORDER BY finished_at LIMIT ?`,
    );
    for (const st of statuses) cand.push(...(q.all(o.stage, st, limit) as { r: number; f: number }[]).map((c) => ({ ...c, st })));
    cand.sort((a, b) => a.f - b.f);
    const take: { r: number; st: string }[] = [];
    for (const c of cand) {
      if (take.length >= limit) break;
      const old = o.endedBefore !== undefined && c.f < o.endedBefore;
      if (old || take.length < excess) take.push(c);
      else break;
    }
    if (!take.length) return 0;
    const del = db.query("DELETE FROM tasks WHERE rowid = ?");
    for (const t of take) {
      del.run(t.r);
      moved(db, o.stage, t.st, null);
    }
    return take.length;
  }).immediate();
}

/**
 * Trim the event log to the newest `keep` events, `batch` at a time, yielding between batches; then
 * checkpoint the WAL so it does not keep what was deleted (PASSIVE: never waits for readers).
 */
export async function pruneEventsInBatches(db: Database, keep: number, batch = 2000, maxBatches = 500): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = db
      .query("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ? ORDER BY seq LIMIT ?)")
      .run(keep, batch).changes;
    total += n;
    if (n < batch) break;
    await Bun.sleep(0);
  }
  if (total) checkpoint(db);
  return total;
}

export function checkpoint(db: Database): void {
  db.query("PRAGMA wal_checkpoint(PASSIVE)").get();
}

/** Give freed pages back a few at a time (only files with incremental auto-vacuum have any to give). */
export function compactStep(db: Database, pages = 2000): void {
  pruneEndedBuckets(db);
  db.query(`PRAGMA incremental_vacuum(${Math.max(1, Math.floor(pages))})`).all();
  checkpoint(db);
}

/**
 * Tasks per stage that ended in [since, until): whole 10-second buckets kept by moved() (sqlite-counts.ts),
 * at most 360 rows a stage for an hour whatever the rate, plus exact counts of the partial buckets at either
 * end from tasks_ended (at most 10 s of endings each).
 */
export function countEndedBetween(db: Database, since: number, until = Infinity): Record<string, { finished: number; failed: number }> {
  const out: Record<string, { finished: number; failed: number }> = {};
  const add = (stage: string, f: number, x: number) => {
    const o = (out[stage] ??= { finished: 0, failed: 0 });
    o.finished += f;
    o.failed += x;
  };
  // Whole 10 s buckets inside [since, until) come from the bucket counts; the partial ones at either end are
  // counted exactly from the finished-time index, so the range is exact to the millisecond.
  const lo = Math.ceil(since / 10_000);
  const hi = until === Infinity ? Infinity : Math.floor(until / 10_000);
  const exact: [number, number][] = [];
  if (lo >= hi) exact.push([since, until]);
  else {
    const rows = db.query("SELECT stage, sum(finished) AS f, sum(failed) AS x FROM ended_buckets WHERE bucket >= ? AND bucket < ? GROUP BY stage").all(lo, Math.min(hi, Number.MAX_SAFE_INTEGER));
    for (const r of rows as { stage: string; f: number; x: number }[]) add(r.stage, r.f, r.x);
    if (since < lo * 10_000) exact.push([since, lo * 10_000]);
    if (hi !== Infinity && hi * 10_000 < until) exact.push([hi * 10_000, until]);
  }
  if (exact.length) {
    const pairs = db.query("SELECT stage, status FROM task_counts WHERE n > 0 AND status IN ('finished','failed','cancelled')").all() as { stage: string; status: string }[];
    const q = db.query("SELECT count(*) AS n FROM tasks INDEXED BY tasks_ended WHERE stage = ? AND status = ? AND finished_at >= ? AND finished_at < ?");
    for (const [a, b] of exact)
      for (const p of pairs) {
        const n = (q.get(p.stage, p.status, a, b === Infinity ? Number.MAX_SAFE_INTEGER : b) as { n: number }).n;
        if (n) add(p.stage, p.status === "finished" ? n : 0, p.status === "finished" ? 0 : n);
      }
  }
  for (const [k, v] of Object.entries(out)) if (!v.finished && !v.failed) delete out[k];
  return out;
}

/** Buckets older than two days are no longer read. */
export function pruneEndedBuckets(db: Database, now = Date.now()): void {
  db.query("DELETE FROM ended_buckets WHERE bucket < ?").run(Math.floor((now - 172_800_000) / 10_000));
}
