import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { FalcError, inputError, unavailable } from "./errors.ts";

/**
 * The one SQLite opener for every falc store (queue, ledger, schedules, sync).
 *
 * Order matters: busy_timeout is set before anything that takes a lock (journal_mode=WAL does), so a second
 * process opening the same file waits instead of failing with "database is locked". The schema is versioned
 * with PRAGMA user_version and moved forward by ordered migrations, each in its own IMMEDIATE transaction
 * that re-reads the version first, so two processes opening an old file at once migrate it once.
 *
 * A file written before versioning has user_version 0: migration 1 of each store is its original schema
 * written with IF NOT EXISTS, so such a file opens and is then carried forward like any other.
 */
export interface Migration {
  /** 1, 2, 3 … in order, no gaps. */
  version: number;
  /** What it changes, for error messages. */
  name: string;
  up: string | ((db: Database) => void);
}

export interface StoreOptions {
  /** The store's name in messages: "queue", "scan ledger", … */
  name: string;
  migrations: readonly Migration[];
  /** NORMAL (default) survives a process crash; FULL also a power loss for the last transaction. */
  synchronous?: "NORMAL" | "FULL";
  /** bun:sqlite strict mode (named parameters without prefixes). */
  strict?: boolean;
  foreignKeys?: boolean;
  busyTimeoutMs?: number;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/** A store file that cannot be used: names the file and says what to do. Exit 2 (it is input, not a bug). */
export function storeUnreadable(name: string, path: string, why: string) {
  return inputError(`the ${name} database ${path} cannot be read (${why}): move it aside or restore it from a backup`, { path });
}

function checkMigrations(name: string, ms: readonly Migration[]): void {
  ms.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`${name}: migration ${i} has version ${m.version}, expected ${i + 1}`);
  });
}

export function schemaVersion(db: Database): number {
  return (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
}

export function openStore(path: string, opts: StoreOptions): Database {
  checkMigrations(opts.name, opts.migrations);
  if (path !== ":memory:") {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw unavailable(`cannot create the folder of the ${opts.name} database ${path}: ${(e as Error).message}`);
    }
  }
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: opts.strict ?? false });
  } catch (e) {
    throw unavailable(`cannot open the ${opts.name} database ${path}: ${(e as Error).message}`);
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`);
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA synchronous = ${opts.synchronous ?? "NORMAL"}`);
    if (opts.foreignKeys) db.exec("PRAGMA foreign_keys = ON");
    migrate(db, path, opts);
  } catch (e) {
    db.close();
    if (e instanceof FalcError) throw e;
    const msg = (e as Error).message;
    if (/not a database|malformed|corrupt|file is encrypted/i.test(msg)) throw storeUnreadable(opts.name, path, msg);
    throw unavailable(`cannot open the ${opts.name} database ${path}: ${msg}`);
  }
  return db;
}

function migrate(db: Database, path: string, opts: StoreOptions): void {
  const latest = opts.migrations.length;
  const current = schemaVersion(db);
  if (current > latest) {
    throw inputError(
      `the ${opts.name} database ${path} was written by a newer falc (schema ${current}, this falc knows up to ${latest}): upgrade falc or use another FALC_HOME`,
      { path },
    );
  }
  for (const m of opts.migrations) {
    if (m.version <= current) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      // Another process may have migrated while we waited for the lock.
      if (schemaVersion(db) >= m.version) {
        db.exec("COMMIT");
        continue;
      }
      if (typeof m.up === "string") db.exec(m.up);
      else m.up(db);
      db.exec(`PRAGMA user_version = ${m.version}`);
      db.exec("COMMIT");
    } catch (e) {
      try {
        db.exec("ROLLBACK");
      } catch {}
      throw new Error(`migration ${m.version} (${m.name}) failed: ${(e as Error).message}`);
    }
  }
}
