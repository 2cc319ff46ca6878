import type { Database } from "bun:sqlite";
import type { Migration } from "../core/store.ts";
import { DOCS_SCHEMA } from "./sqlite-docs.ts";

/**
 * The SQLite queue's schema, as ordered migrations run by openStore (src/core/store.ts). Version 0 is
 * every file written before versions existed; its tables are migration 1's, so a FALC_HOME queue from
 * then opens and is brought forward in place.
 */
export const QUEUE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "original schema",
    // CREATE IF NOT EXISTS: a version-0 file already has it.
    up: `
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  stage TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  queued_at INTEGER,
  requested_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER,
  run_at INTEGER NOT NULL,
  timeout_s REAL,
  error TEXT,
  result TEXT,
  parent_id TEXT,
  worker TEXT,
  lease_until INTEGER,
  progress REAL,
  progress_note TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_claim ON tasks (status, stage, priority DESC, created_at);
CREATE INDEX IF NOT EXISTS tasks_lease ON tasks (status, lease_until);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks (parent_id);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  task_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  worker TEXT,
  data TEXT
);
CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS workers (name TEXT PRIMARY KEY, rec TEXT NOT NULL, expires_at INTEGER NOT NULL);
`,
  },
  {
    version: 2,
    name: "due/delayed claim index, list and retention indexes, counters (issue 19)",
    up: `
-- A queued task is 'delayed' until its run_at has come; claims read only the due ones, so delayed
-- tasks and tasks in retry backoff never sit in front of due work in the claim index. Every way into
-- 'queued' other than a new task sets delayed = 1; the next claim promotes it once run_at has come.
ALTER TABLE tasks ADD COLUMN delayed INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET delayed = 1 WHERE status = 'queued';
DROP INDEX IF EXISTS tasks_claim;
CREATE INDEX tasks_ready ON tasks (stage, priority DESC, created_at) WHERE status = 'queued' AND delayed = 0;
CREATE INDEX tasks_waiting ON tasks (run_at) WHERE status = 'queued' AND delayed = 1;
-- Lists page through (stage, status, created_at); retention walks (stage, status, finished_at).
CREATE INDEX tasks_list ON tasks (stage, status, created_at);
CREATE INDEX tasks_ended ON tasks (stage, status, finished_at) WHERE finished_at IS NOT NULL;
-- Counts per stage and status, kept by the queue on every change (sqlite-counts.ts), so stats() never counts
-- rows. (Not triggers: on this table each trigger firing cost ~20 µs, measured, against ~1 µs from the queue.)
CREATE TABLE task_counts (stage TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (stage, status)) WITHOUT ROWID;
INSERT INTO task_counts (stage, status, n) SELECT stage, status, count(*) FROM tasks GROUP BY stage, status;
`,
  },
  {
    version: 3,
    name: "tasks ended per 10 s (issue 19)",
    // What the TUI shows as failed in the last hour and finished per minute: sums of at most 360 buckets per
    // stage instead of counting every task that ended in the hour. failed counts failed and cancelled, as on Redis.
    up: `
CREATE TABLE ended_buckets (stage TEXT NOT NULL, bucket INTEGER NOT NULL, finished INTEGER NOT NULL, failed INTEGER NOT NULL,
  PRIMARY KEY (stage, bucket)) WITHOUT ROWID;
INSERT INTO ended_buckets (stage, bucket, finished, failed)
  SELECT stage, finished_at / 10000, sum(status = 'finished'), sum(status <> 'finished') FROM tasks
  WHERE status IN ('finished', 'failed', 'cancelled') AND finished_at >= (unixepoch() - 172800) * 1000 GROUP BY 1, 2;
`,
  },
  {
    version: 4,
    name: "attempt tokens, per-attempt errors, events by task, shared documents",
    // Files written by the queue of the same day before versions existed may have these already.
    up: (db) => {
      const cols = (db.query("PRAGMA table_info(tasks)").all() as { name: string }[]).map((c) => c.name);
      if (!cols.includes("fence")) db.exec("ALTER TABLE tasks ADD COLUMN fence INTEGER NOT NULL DEFAULT 0");
      if (!cols.includes("errors")) db.exec("ALTER TABLE tasks ADD COLUMN errors TEXT");
      db.exec("CREATE INDEX IF NOT EXISTS events_task ON events (task_id, seq)");
      db.exec(DOCS_SCHEMA);
    },
  },
];

/**
 * An empty queue file gets incremental auto-vacuum, so freed pages go back to the OS a little at a time
 * (retention runs incremental_vacuum after its batches). Only an empty file takes this setting cheaply
 * (a VACUUM of nothing), and it must run outside a transaction, so after the migrations. Files that
 * already hold tasks keep reusing their free pages instead: they stop growing under retention but do not
 * shrink (a full VACUUM would lock the queue for as long as it takes).
 */
export function preferIncrementalVacuum(db: Database): void {
  if ((db.query("PRAGMA auto_vacuum").get() as { auto_vacuum: number }).auto_vacuum === 2) return;
  if (db.query("SELECT 1 FROM tasks LIMIT 1").get() || db.query("SELECT 1 FROM events LIMIT 1").get()) return;
  db.exec("PRAGMA auto_vacuum = INCREMENTAL");
  db.exec("VACUUM");
}
