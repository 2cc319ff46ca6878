// Event-log pruning (issue 19): one DELETE of a minute's worth of events held the write lock 265-323 ms, a
// stall of all processing. Now pruning runs every 5 s in batches of 2,000, each its own short lock. Both on
// the same file contents: the longest lock (what a claim can wait) and the total time.
// Usage: bun scripts/bench/event-prune.ts [--keep 200000] [--excess 150000]
import { Database } from "bun:sqlite";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import { numArg } from "./args.ts";

const KEEP = numArg("--keep", 200_000);
const EXCESS = numArg("--excess", 150_000);
const dir = mkdtempSync(join(tmpdir(), "falc-evprune-"));
try {
  const base = join(dir, "base.sqlite");
  await new SqliteQueue(base).close();
  const db = new Database(base);
  const ins = db.query("INSERT INTO events (at, task_id, stage, type, status, worker, data) VALUES (?, ?, 'pre', 'finished', 'finished', 'pre0', NULL)");
  db.transaction(() => {
    for (let i = 0; i < KEEP + EXCESS; i++) ins.run(Date.now(), `t${i.toString(36).padStart(12, "0")}`);
  })();
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();

  // Before: one statement.
  const a = join(dir, "a.sqlite");
  copyFileSync(base, a);
  const da = new Database(a);
  da.exec("PRAGMA journal_mode=WAL");
  let t = performance.now();
  da.query("DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?").run(KEEP);
  const single = performance.now() - t;
  da.close();

  // After: the queue's batches, timing each one.
  const b = join(dir, "b.sqlite");
  copyFileSync(base, b);
  const q = new SqliteQueue(b, { keepEvents: KEEP });
  const qdb = (q as unknown as { db: Database }).db;
  const orig = qdb.query.bind(qdb);
  const each: number[] = [];
  const wrapped = new WeakSet<object>();
  (qdb as unknown as { query: typeof qdb.query }).query = ((sql: string) => {
    const stmt = orig(sql);
    // bun:sqlite hands back the same cached statement for the same SQL: wrap it once.
    if (!sql.startsWith("DELETE FROM events") || wrapped.has(stmt)) return stmt;
    wrapped.add(stmt);
    const run = stmt.run.bind(stmt);
    (stmt as unknown as { run: typeof stmt.run }).run = ((...args: never[]) => {
      const s = performance.now();
      const r = run(...args);
      each.push(performance.now() - s);
      return r;
    }) as typeof stmt.run;
    return stmt;
  }) as typeof qdb.query;
  t = performance.now();
  const n = await q.pruneEvents();
  const total = performance.now() - t;
  await q.close();
  if (n !== EXCESS) throw new Error(`pruned ${n}, expected ${EXCESS}`);
  each.sort((x, y) => x - y);
  const longest = each[each.length - 1]!;
  const median = each[Math.floor(each.length / 2)]!;
  console.log(`${EXCESS} of ${KEEP + EXCESS} events: one DELETE held the lock ${single.toFixed(0)} ms; ${each.length} batches of 2,000: median ${median.toFixed(1)} ms, longest ${longest.toFixed(1)} ms, all ${total.toFixed(0)} ms with yields (longest lock / one DELETE ${(longest / single).toFixed(3)})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
