import type { Database } from "bun:sqlite";
import type { DocStore } from "./types.ts";

/** The docs table of the SQLite queue (created by the queue's schema). */
export const DOCS_SCHEMA = `CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;`;

export class SqliteDocs implements DocStore {
  constructor(private db: Database) {}
  async get<T>(kind: string, id: string): Promise<T | null> {
    const r = this.db.query("SELECT value FROM docs WHERE kind=? AND id=?").get(kind, id) as { value: string } | null;
    return r ? (JSON.parse(r.value) as T) : null;
  }
  async list<T>(kind: string): Promise<{ id: string; value: T }[]> {
    const rows = this.db.query("SELECT id, value FROM docs WHERE kind=? ORDER BY id").all(kind) as { id: string; value: string }[];
    return rows.map((r) => ({ id: r.id, value: JSON.parse(r.value) as T }));
  }
  async put(kind: string, id: string, value: unknown, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const sql = opts.ifAbsent
      ? "INSERT OR IGNORE INTO docs (kind, id, value, updated_at) VALUES (?, ?, ?, ?)"
      : "INSERT INTO docs (kind, id, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(kind, id) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at";
    return this.db.query(sql).run(kind, id, JSON.stringify(value), Date.now()).changes > 0;
  }
  async delete(kind: string, id: string): Promise<boolean> {
    return this.db.query("DELETE FROM docs WHERE kind=? AND id=?").run(kind, id).changes > 0;
  }
  async clear(kind: string): Promise<void> {
    this.db.query("DELETE FROM docs WHERE kind=?").run(kind);
  }
}
