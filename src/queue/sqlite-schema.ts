import type { Database } from "bun:sqlite";

/**
 * The SQLite queue's schema, as ordered migrations: migration i brings a file from version i to i+1
 * (PRAGMA user_version). Version 0 is every file written before versions existed; its tables are
 * migration 0's, so a FALC_HOME queue from then opens and is brought forward in place.
 */
export const QUEUE_MIGRATIONS: ((db: Database) => void)[] = [
  // 0 → 1: the original schema (CREATE IF NOT EXISTS: a version-0 file already has it).
  (db) => {
    db.exec(`
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
`);
  },

  // 1 → 2: claims, lists, counts and retention that do not grow with history (issue 19).
  (db) => {
    db.exec(`
-- A queued task is 'delayed' until its run_at has come; claims read only the due ones, so delayed
-- tasks and tasks in retry backoff never sit in front of due work in the claim index.
ALTER TABLE tasks ADD COLUMN delayed INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET delayed = 1 WHERE status = 'queued';
DROP INDEX IF EXISTS tasks_claim;
CREATE INDEX tasks_ready ON tasks (stage, priority DESC, created_at) WHERE status = 'queued' AND delayed = 0;
CREATE INDEX tasks_waiting ON tasks (run_at) WHERE status = 'queued' AND delayed = 1;
-- Every way into 'queued' (retry backoff, lease expiry, release, retry, any added later) lands
-- as delayed; the next claim promotes it once run_at has come, through tasks_waiting.
CREATE TRIGGER tasks_requeued AFTER UPDATE OF status, run_at ON tasks
  WHEN NEW.status = 'queued' AND NEW.delayed = 0 AND (OLD.status <> 'queued' OR NEW.run_at <> OLD.run_at)
  BEGIN UPDATE tasks SET delayed = 1 WHERE rowid = NEW.rowid; END;
-- Lists page through (stage, status, created_at); retention walks (stage, status, finished_at).
CREATE INDEX tasks_list ON tasks (stage, status, created_at);
CREATE INDEX tasks_ended ON tasks (stage, status, finished_at) WHERE finished_at IS NOT NULL;
-- Counts per stage and status, kept by triggers, so stats() never counts rows.
CREATE TABLE task_counts (stage TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (stage, status)) WITHOUT ROWID;
INSERT INTO task_counts (stage, status, n) SELECT stage, status, count(*) FROM tasks GROUP BY stage, status;
CREATE TRIGGER tasks_count_ins AFTER INSERT ON tasks BEGIN
  INSERT INTO task_counts (stage, status, n) VALUES (NEW.stage, NEW.status, 1)
    ON CONFLICT (stage, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_count_del AFTER DELETE ON tasks BEGIN
  UPDATE task_counts SET n = n - 1 WHERE stage = OLD.stage AND status = OLD.status;
END;
CREATE TRIGGER tasks_count_upd AFTER UPDATE OF status ON tasks WHEN OLD.status <> NEW.status BEGIN
  UPDATE task_counts SET n = n - 1 WHERE stage = OLD.stage AND status = OLD.status;
  INSERT INTO task_counts (stage, status, n) VALUES (NEW.stage, NEW.status, 1)
    ON CONFLICT (stage, status) DO UPDATE SET n = n + 1;
END;
`);
  },
];

/**
 * A new, empty file gets incremental auto-vacuum, so freed pages go back to the OS a little at a time
 * (retention runs incremental_vacuum after its batches). Only an empty file takes this setting cheaply
 * (a VACUUM of nothing); it must run outside a transaction. Files from before keep reusing their free
 * pages instead: they stop growing under retention but do not shrink.
 */
export function preferIncrementalVacuum(db: Database): void {
  if (db.query("SELECT 1 FROM sqlite_master LIMIT 1").get()) return;
  if ((db.query("PRAGMA auto_vacuum").get() as { auto_vacuum: number }).auto_vacuum === 2) return;
  db.exec("PRAGMA auto_vacuum = INCREMENTAL");
  db.exec("VACUUM");
}

/**
 * Bring a queue file to the newest version, one migration per transaction, so a crash leaves it at
 * the last version that completed. Runs under an immediate lock: two processes opening the same
 * old file do not both migrate it.
 */
export function migrateQueue(db: Database): void {
  for (;;) {
    const done = db.transaction(() => {
      const v = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (v >= QUEUE_MIGRATIONS.length) return true;
      QUEUE_MIGRATIONS[v]!(db);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      return false;
    }).immediate();
    if (done) return;
  }
}
