import type { Database } from "bun:sqlite";
import { openStore, type Migration } from "../core/store.ts";
import { join } from "node:path";
import { ensureDir } from "../core/paths.ts";

/**
 * The master's own SQLite (FALC_HOME/sync/master.sqlite): nodes it has seen, a short history of
 * syncs per node, the groups each node is assigned to, and the ledger rows workers sent up.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, address TEXT, version TEXT, connected_at INTEGER, last_seen INTEGER,
  record TEXT, first_seen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syncs (id INTEGER PRIMARY KEY, node TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL,
  duration_ms REAL NOT NULL, ok INTEGER NOT NULL, error TEXT, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS syncs_node ON syncs(node, kind, id);
CREATE TABLE IF NOT EXISTS groups (node TEXT NOT NULL, grp TEXT NOT NULL, PRIMARY KEY (node, grp));
CREATE TABLE IF NOT EXISTS worker_ports (node TEXT NOT NULL, project TEXT NOT NULL, ip TEXT NOT NULL, proto TEXT NOT NULL,
  port INTEGER NOT NULL, state TEXT NOT NULL, service TEXT, product TEXT, version TEXT, extrainfo TEXT, last_seen INTEGER NOT NULL,
  received_at INTEGER NOT NULL, PRIMARY KEY (node, project, ip, proto, port));
`;

/** Migration 1 is the schema as first released (IF NOT EXISTS): a file written before versioning opens as is. */
const MIGRATIONS: Migration[] = [{ version: 1, name: "nodes, syncs, groups, worker ports", up: SCHEMA }];

export type SyncKind = "integrity" | "info";

export interface SyncRecord {
  at: number;
  durationMs: number;
  ok: boolean;
  error: string | null;
  [k: string]: unknown;
}

export interface NodeRow {
  name: string;
  address: string | null;
  version: string | null;
  connectedAt: number | null;
  lastSeen: number | null;
  record: Record<string, unknown> | null;
}

export interface PortRow {
  project: string;
  ip: string;
  proto: string;
  port: number;
  state: string;
  service?: string | null;
  product?: string | null;
  version?: string | null;
  extrainfo?: string | null;
  lastSeen: number;
}

const KEEP_SYNCS = 50;

export class MasterStore {
  readonly db: Database;

  constructor(path: string) {
    this.db = openStore(path, { name: "sync master", migrations: MIGRATIONS });
  }

  static open(home: string): MasterStore {
    return new MasterStore(join(ensureDir(join(home, "sync")), "master.sqlite"));
  }

  close(): void {
    this.db.close();
  }

  nodeSeen(name: string, address: string, version: string, at = Date.now()): void {
    this.db
      .query(
        `INSERT INTO nodes (name, address, version, connected_at, last_seen, first_seen) VALUES (?1, ?2, ?3, ?4, ?4, ?4)
         ON CONFLICT(name) DO UPDATE SET address=?2, version=?3, connected_at=?4, last_seen=?4`,
      )
      .run(name, address, version, at);
  }

  touch(name: string, at = Date.now()): void {
    this.db.query("UPDATE nodes SET last_seen=? WHERE name=?").run(at, name);
  }

  setRecord(name: string, record: unknown): void {
    this.db.query("UPDATE nodes SET record=?, last_seen=? WHERE name=?").run(JSON.stringify(record), Date.now(), name);
  }

  nodes(): NodeRow[] {
    return (this.db.query("SELECT * FROM nodes ORDER BY name").all() as Record<string, any>[]).map((r) => ({
      name: r.name,
      address: r.address,
      version: r.version,
      connectedAt: r.connected_at,
      lastSeen: r.last_seen,
      record: r.record ? JSON.parse(r.record) : null,
    }));
  }

  addSync(node: string, kind: SyncKind, rec: SyncRecord): void {
    const { at, durationMs, ok, error, ...detail } = rec;
    this.db.transaction(() => {
      this.db.query("INSERT INTO syncs (node, kind, at, duration_ms, ok, error, detail) VALUES (?, ?, ?, ?, ?, ?, ?)").run(node, kind, at, durationMs, ok ? 1 : 0, error, JSON.stringify(detail));
      this.db.query("DELETE FROM syncs WHERE node=? AND kind=? AND id NOT IN (SELECT id FROM syncs WHERE node=? AND kind=? ORDER BY id DESC LIMIT ?)").run(node, kind, node, kind, KEEP_SYNCS);
    })();
  }

  /** More rows of the node's current info send: added to its last info row, so status shows the send's total. */
  addToLastInfo(node: string, rows: number, durationMs: number): void {
    const r = this.db.query("SELECT id, duration_ms, detail FROM syncs WHERE node=? AND kind='info' ORDER BY id DESC LIMIT 1").get(node) as { id: number; duration_ms: number; detail: string } | null;
    if (!r) return void this.addSync(node, "info", { at: Date.now(), durationMs, ok: true, error: null, rows, chunks: 1, record: false });
    const d = JSON.parse(r.detail) as { rows?: number; chunks?: number };
    const detail = { ...d, rows: (d.rows ?? 0) + rows, chunks: (d.chunks ?? 1) + 1 };
    this.db.query("UPDATE syncs SET duration_ms=?, detail=? WHERE id=?").run(r.duration_ms + durationMs, JSON.stringify(detail), r.id);
  }

  /** Whether this master has ever seen the node connect. */
  knows(node: string): boolean {
    return !!this.db.query("SELECT 1 FROM nodes WHERE name=?").get(node);
  }

  lastSync(node: string, kind: SyncKind): SyncRecord | null {
    const r = this.db.query("SELECT * FROM syncs WHERE node=? AND kind=? ORDER BY id DESC LIMIT 1").get(node, kind) as Record<string, any> | null;
    if (!r) return null;
    return { at: r.at, durationMs: r.duration_ms, ok: !!r.ok, error: r.error, ...JSON.parse(r.detail) };
  }

  /** The node's last failed sync of any kind (kept among its last syncs), or null. */
  lastError(node: string): { at: number; kind: string; error: string } | null {
    const r = this.db.query("SELECT at, kind, error FROM syncs WHERE node=? AND ok=0 ORDER BY id DESC LIMIT 1").get(node) as { at: number; kind: string; error: string | null } | null;
    return r ? { at: r.at, kind: r.kind, error: r.error ?? "" } : null;
  }

  /** node → sorted groups, for every node that has any. */
  groups(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const r of this.db.query("SELECT node, grp FROM groups ORDER BY node, grp").all() as { node: string; grp: string }[]) (out[r.node] ??= []).push(r.grp);
    return out;
  }

  setGroups(node: string, groups: string[]): void {
    this.db.transaction(() => {
      this.db.query("DELETE FROM groups WHERE node=?").run(node);
      for (const g of new Set(groups)) this.db.query("INSERT INTO groups (node, grp) VALUES (?, ?)").run(node, g);
    }).immediate();
  }

  /** Upsert a worker's ledger rows; idempotent, so a chunk sent again after a lost ack does no harm. */
  storePorts(node: string, rows: PortRow[]): number {
    const q = this.db.query(
      `INSERT INTO worker_ports (node, project, ip, proto, port, state, service, product, version, extrainfo, last_seen, received_at)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(node, project, ip, proto, port) DO UPDATE SET state=excluded.state,
       service=excluded.service, product=excluded.product, version=excluded.version, extrainfo=excluded.extrainfo,
       last_seen=excluded.last_seen, received_at=excluded.received_at`,
    );
    const now = Date.now();
    this.db.transaction(() => {
      for (const r of rows)
        q.run(node, r.project, r.ip, r.proto, r.port, r.state, r.service ?? null, r.product ?? null, r.version ?? null, r.extrainfo ?? null, r.lastSeen, now);
    }).immediate();
    return rows.length;
  }

  portCount(node: string): number {
    return (this.db.query("SELECT COUNT(*) AS n FROM worker_ports WHERE node=?").get(node) as { n: number }).n;
  }
}
