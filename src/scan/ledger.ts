import type { Database } from "bun:sqlite";
import { openStore, type Migration } from "../core/store.ts";
import { join } from "node:path";
import { ensureDir } from "../core/paths.ts";
import { inputError } from "../core/errors.ts";
import { parsePorts } from "./profile.ts";
import type { ScanHost, ScanPort, XmlMeta } from "./xml.ts";

/**
 * Import modes, as ScanLedger defines them:
 * - insert:  IPs already in the project are skipped entirely; only new IPs are added.
 * - append:  new IPs are added; known IPs get the ports they did not have (a closed port counts as
 *            not had); known open ports are left as they are.
 * - update:  new IPs and ports are added; known ports take the new state and every non-empty new value.
 * - replace: as update, and every known port of a scanned IP that was scanned but not found open is
 *            closed (also when the IP shows no open port, or is down).
 * In every mode an empty value never replaces a known one (see mergePort).
 */
export const IMPORT_MODES = ["insert", "append", "update", "replace"] as const;
export type ImportMode = (typeof IMPORT_MODES)[number];

export interface ImportStats {
  hostsAdded: number;
  hostsSkipped: number;
  portsAdded: number;
  portsUpdated: number;
  portsClosed: number;
}

export interface LedgerPort extends ScanPort {
  firstSeen: number;
  lastSeen: number;
}

export interface LedgerHost {
  ip: string;
  addrtype: "ipv4" | "ipv6";
  hostnames: string[];
  firstSeen: number;
  lastSeen: number;
  ports: LedgerPort[];
  osMatches?: ScanHost["osMatches"];
  mac?: string;
  macVendor?: string;
  extraports?: ScanHost["extraports"];
  hostScripts?: ScanHost["hostScripts"];
  startedAt?: number;
  endedAt?: number;
  /** Ports the last scan listed in a state other than open (the ledger's ports are the open ones). */
  listed?: ScanPort[];
}

export interface RunRecord {
  id: string;
  scheduleId: string | null;
  project: string;
  profile: string;
  mode: ImportMode;
  targets: string[];
  status: string;
  startedAt: number;
  finishedAt: number | null;
  hosts: ScanHost[];
}

export interface HistoryRow {
  ip: string;
  proto: string;
  port: number;
  field: string;
  old: string | null;
  new: string | null;
  at: number;
  runId: string | null;
}

const TRACKED = ["state", "service", "product", "version", "extrainfo"] as const;

/** Ports the ledger keeps: the actionable ones. */
export const isOpenPort = (p: { state: string }) => p.state === "open" || p.state === "open|filtered";

/** Fields a new service name makes stale: they describe the old service. */
const DETAILS = new Set(["product", "version", "extrainfo", "tunnel", "cpe", "method", "conf"]);

/** Host facts kept as nmap wrote them at the last sighting: extraports, host scripts, times, ports listed in other states. */
function hostExtra(h: ScanHost) {
  return {
    ...(h.extraports?.length ? { extraports: h.extraports } : {}),
    ...(h.hostScripts?.length ? { hostScripts: h.hostScripts } : {}),
    ...(h.startedAt !== undefined ? { startedAt: h.startedAt } : {}),
    ...(h.endedAt !== undefined ? { endedAt: h.endedAt } : {}),
    ...(h.ports.some((p) => !isOpenPort(p)) ? { listed: h.ports.filter((p) => !isOpenPort(p)) } : {}),
  };
}

/**
 * A known port's row after a new sighting: the new state; each other field takes the new value
 * when there is one and keeps the known one when the new is empty. A service name nmap only took
 * from its port table (method "table": a guess, as in a scan without service detection) counts as
 * empty when a name is known. A service name that changed after probing takes its details
 * (product, version, ...) as they came: the old ones described another service.
 */
export function mergePort(old: Record<string, any>, p: ScanPort): Record<string, string | null> {
  const guess = p.method === "table" && !!old.service;
  const incoming: Record<string, string | null> = {
    reason: p.reason || null, service: (!guess && p.service) || null, product: p.product || null, version: p.version || null, extrainfo: p.extrainfo || null,
    tunnel: p.tunnel || null, cpe: p.cpe?.length ? JSON.stringify(p.cpe) : null, scripts: p.scripts?.length ? JSON.stringify(p.scripts) : null,
    method: (!guess && p.method) || null, conf: !guess && p.conf !== undefined ? String(p.conf) : null,
  };
  const renamed = !!incoming.service && !!old.service && incoming.service !== old.service;
  const next: Record<string, string | null> = { state: p.state };
  for (const [f, v] of Object.entries(incoming)) next[f] = v ?? (renamed && DETAILS.has(f) ? null : (old[f] ?? null));
  return next;
}

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  ip TEXT NOT NULL, addrtype TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, UNIQUE(project_id, ip));
CREATE TABLE IF NOT EXISTS hostnames (host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE, name TEXT NOT NULL, UNIQUE(host_id, name));
CREATE TABLE IF NOT EXISTS ports (id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  proto TEXT NOT NULL, port INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT, service TEXT, product TEXT, version TEXT, extrainfo TEXT,
  tunnel TEXT, cpe TEXT, scripts TEXT, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, UNIQUE(host_id, proto, port));
CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY, port_id INTEGER NOT NULL REFERENCES ports(id) ON DELETE CASCADE,
  run_id TEXT, at INTEGER NOT NULL, field TEXT NOT NULL, old TEXT, new TEXT);
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  profile TEXT NOT NULL, mode TEXT NOT NULL, targets TEXT NOT NULL, status TEXT NOT NULL, started_at INTEGER NOT NULL,
  finished_at INTEGER, hosts TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS runs_project ON runs(project_id, started_at);
CREATE TABLE IF NOT EXISTS sync_cursor (name TEXT PRIMARY KEY, history_id INTEGER NOT NULL);
`;

/**
 * The ledger's schema, in order. 1 is the schema of the ledgers written before versioning (IF NOT
 * EXISTS: such a file opens as it is); 2 keeps more of what nmap wrote (how a service was found,
 * OS and MAC) and what a run scanned (its ports, its schedule) so that diff compares like with like.
 */
export const LEDGER_MIGRATIONS: Migration[] = [
  { version: 1, name: "projects, hosts, ports, history, runs", up: SCHEMA_V1 },
  {
    version: 2,
    name: "service method/conf, host OS/MAC, run ports and schedule",
    up: `
      ALTER TABLE ports ADD COLUMN method TEXT;
      ALTER TABLE ports ADD COLUMN conf INTEGER;
      ALTER TABLE hosts ADD COLUMN os TEXT;
      ALTER TABLE hosts ADD COLUMN mac TEXT;
      ALTER TABLE hosts ADD COLUMN mac_vendor TEXT;
      ALTER TABLE hosts ADD COLUMN extra TEXT;
      ALTER TABLE runs ADD COLUMN scanned TEXT;
      ALTER TABLE runs ADD COLUMN schedule_id TEXT;
      ALTER TABLE runs ADD COLUMN meta TEXT;
    `,
  },
];

/** A port as `falc sync` sends it up to the master: its current state after its latest change. */
export interface SyncPortRow {
  project: string;
  ip: string;
  proto: string;
  port: number;
  state: string;
  service: string | null;
  product: string | null;
  version: string | null;
  extrainfo: string | null;
  lastSeen: number;
}

/** The scan ledger: projects → hosts → ports (+ hostnames, change history, runs), in FALC_HOME/scan/ledger.sqlite. */
export class Ledger {
  readonly db: Database;

  constructor(path: string) {
    // busy_timeout before WAL (the one opener does it): concurrent workers wait, never "database is locked".
    this.db = openStore(path, { name: "scan ledger", migrations: LEDGER_MIGRATIONS, foreignKeys: true });
  }

  static open(home: string): Ledger {
    return new Ledger(join(ensureDir(join(home, "scan")), "ledger.sqlite"));
  }

  close(): void {
    this.db.close();
  }

  projectId(name: string, create = true): number {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw inputError(`project name \`${name.slice(0, 70)}\` must be letters, digits, _ . - (up to 64)`);
    const row = this.db.query("SELECT id FROM projects WHERE name=?").get(name) as { id: number } | null;
    if (row) return row.id;
    if (!create) throw inputError(`project \`${name}\` has no scans yet`);
    return Number(this.db.query("INSERT INTO projects (name, created_at) VALUES (?, ?)").run(name, Date.now()).lastInsertRowid);
  }

  projects(): string[] {
    return (this.db.query("SELECT name FROM projects ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  }

  hasHost(project: string, ip: string): boolean {
    const row = this.db.query("SELECT 1 FROM hosts h JOIN projects p ON p.id=h.project_id WHERE p.name=? AND h.ip=?").get(project, ip);
    return !!row;
  }

  /**
   * Import hosts in one transaction, by ScanLedger's rules (see IMPORT_MODES) with two more:
   * - a value is never replaced by an empty one (a scan that did not reach service detection, or
   *   a profile without it, leaves what is known), except that a port whose service name changed
   *   takes the new service's details as they are;
   * - replace closes, on every host it scanned, the known ports inside the scanned set
   *   (`scanned[ip]`: "tcp" → "1-1000"; every port when not given) that were not found open:
   *   also when no port of the host is open, and when the host is now down. A host listed in
   *   `scanned` but absent from `hosts` was scanned and showed nothing.
   * Only open (and open|filtered) ports are stored; down hosts are never added.
   */
  importHosts(project: string, hosts: ScanHost[], mode: ImportMode, opts: { runId?: string; at?: number; scanned?: Record<string, Partial<Record<string, string>>> } = {}): ImportStats {
    if (!IMPORT_MODES.includes(mode)) throw inputError(`import mode must be one of ${IMPORT_MODES.join(", ")}, got \`${mode}\``);
    const at = opts.at ?? Date.now();
    const stats: ImportStats = { hostsAdded: 0, hostsSkipped: 0, portsAdded: 0, portsUpdated: 0, portsClosed: 0 };
    const pid = this.projectId(project);
    const q = {
      host: this.db.query("SELECT id FROM hosts WHERE project_id=? AND ip=?"),
      addHost: this.db.query("INSERT INTO hosts (project_id, ip, addrtype, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)"),
      touchHost: this.db.query("UPDATE hosts SET last_seen=? WHERE id=?"),
      // What nmap wrote about the host last time it was seen up; an absent value keeps the known one.
      hostInfo: this.db.query("UPDATE hosts SET os=COALESCE(?, os), mac=COALESCE(?, mac), mac_vendor=COALESCE(?, mac_vendor), extra=? WHERE id=?"),
      addName: this.db.query("INSERT OR IGNORE INTO hostnames (host_id, name) VALUES (?, ?)"),
      port: this.db.query("SELECT * FROM ports WHERE host_id=? AND proto=? AND port=?"),
      ports: this.db.query("SELECT * FROM ports WHERE host_id=?"),
      addPort: this.db.query(
        "INSERT INTO ports (host_id, proto, port, state, reason, service, product, version, extrainfo, tunnel, cpe, scripts, method, conf, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
      ),
      setPort: this.db.query(
        "UPDATE ports SET state=?, reason=?, service=?, product=?, version=?, extrainfo=?, tunnel=?, cpe=?, scripts=?, method=?, conf=?, last_seen=? WHERE id=?",
      ),
      seenPort: this.db.query("UPDATE ports SET last_seen=? WHERE id=?"),
      close: this.db.query("UPDATE ports SET state='closed' WHERE id=?"),
      hist: this.db.query("INSERT INTO history (port_id, run_id, at, field, old, new) VALUES (?, ?, ?, ?, ?, ?)"),
    };
    const runId = opts.runId ?? null;
    const addPort = (hostId: number, p: ScanPort) => {
      const id = Number(
        q.addPort.run(hostId, p.proto, p.port, p.state, p.reason ?? null, p.service ?? null, p.product ?? null, p.version ?? null, p.extrainfo ?? null, p.tunnel ?? null,
          p.cpe?.length ? JSON.stringify(p.cpe) : null, p.scripts?.length ? JSON.stringify(p.scripts) : null, p.method ?? null, p.conf ?? null, at, at).lastInsertRowid,
      );
      q.hist.run(id, runId, at, "state", null, p.state);
      stats.portsAdded++;
    };
    const updatePort = (old: Record<string, any>, p: ScanPort) => {
      const next = mergePort(old, p);
      let changed = false;
      for (const f of TRACKED) {
        if ((old[f] ?? null) !== next[f]) {
          q.hist.run(old.id, runId, at, f, old[f] ?? null, next[f]);
          changed = true;
        }
      }
      q.setPort.run(next.state, next.reason, next.service, next.product, next.version, next.extrainfo, next.tunnel, next.cpe, next.scripts, next.method, next.conf, at, old.id);
      if (changed) stats.portsUpdated++;
    };
    const byIp = new Map<string, ScanHost>();
    for (const h of hosts) {
      const cur = byIp.get(h.ip);
      if (!cur) byIp.set(h.ip, { ...h });
      else byIp.set(h.ip, { ...cur, ...h, status: cur.status === "up" || h.status === "up" ? "up" : h.status, hostnames: [...new Set([...cur.hostnames, ...h.hostnames])], ports: [...cur.ports, ...h.ports] });
    }
    // Hosts the run scanned that the report does not list (nmap leaves out hosts it found down).
    for (const ip of Object.keys(opts.scanned ?? {})) if (!byIp.has(ip)) byIp.set(ip, { ip, addrtype: ip.includes(":") ? "ipv6" : "ipv4", status: "down", hostnames: [], ports: [] });
    this.db.transaction(() => {
      for (const h of byIp.values()) {
        const up = h.status !== "down";
        const existing = q.host.get(pid, h.ip) as { id: number } | null;
        if (existing && mode === "insert") {
          stats.hostsSkipped++;
          continue;
        }
        if (!existing && !up) continue;
        let hostId: number;
        if (!existing) {
          hostId = Number(q.addHost.run(pid, h.ip, h.addrtype, at, at).lastInsertRowid);
          stats.hostsAdded++;
        } else {
          hostId = existing.id;
          if (up) q.touchHost.run(at, hostId);
        }
        for (const n of h.hostnames) q.addName.run(hostId, n);
        if (up) q.hostInfo.run(h.osMatches?.length ? JSON.stringify(h.osMatches) : null, h.mac ?? null, h.macVendor ?? null, JSON.stringify(hostExtra(h)), hostId);
        const seen = new Set<string>();
        for (const p of up ? h.ports.filter(isOpenPort) : []) {
          seen.add(`${p.proto}/${p.port}`);
          const old = q.port.get(hostId, p.proto, p.port) as Record<string, any> | null;
          if (!old) addPort(hostId, p);
          // append leaves a known open port as it is; a closed one is not known to be there.
          else if (mode === "append" && old.state !== "closed") q.seenPort.run(at, old.id);
          else updatePort(old, p);
        }
        if (mode === "replace" && existing) {
          const sc = opts.scanned?.[h.ip];
          const sets = sc ? Object.fromEntries(Object.entries(sc).map(([proto, s]) => [proto, new Set(s ? parsePorts(s) ?? [] : [])])) : null;
          for (const old of q.ports.all(hostId) as Record<string, any>[]) {
            if (old.state === "closed" || seen.has(`${old.proto}/${old.port}`)) continue;
            if (sets && !sets[old.proto]?.has(old.port)) continue;
            q.close.run(old.id);
            q.hist.run(old.id, runId, at, "state", old.state, "closed");
            stats.portsClosed++;
          }
        }
      }
    }).immediate();
    return stats;
  }

  /** Hosts with their ports; closed ports only when asked. */
  hosts(project: string, opts: { includeClosed?: boolean } = {}): LedgerHost[] {
    const pid = this.projectId(project, false);
    const hosts = this.db.query("SELECT * FROM hosts WHERE project_id=? ORDER BY ip").all(pid) as Record<string, any>[];
    const names = this.db.query("SELECT name FROM hostnames WHERE host_id=? ORDER BY name");
    const ports = this.db.query(`SELECT * FROM ports WHERE host_id=? ${opts.includeClosed ? "" : "AND state != 'closed'"} ORDER BY proto, port`);
    const out = hosts.map((h): LedgerHost => ({
      ip: h.ip as string,
      addrtype: h.addrtype as "ipv4" | "ipv6",
      hostnames: (names.all(h.id) as { name: string }[]).map((r) => r.name),
      firstSeen: h.first_seen as number,
      lastSeen: h.last_seen as number,
      ...(h.os ? { osMatches: JSON.parse(h.os) } : {}),
      ...(h.mac ? { mac: h.mac } : {}),
      ...(h.mac_vendor ? { macVendor: h.mac_vendor } : {}),
      ...(h.extra ? JSON.parse(h.extra) : {}),
      ports: (ports.all(h.id) as Record<string, any>[]).map((p) => {
        const lp: LedgerPort = { proto: p.proto, port: p.port, state: p.state, firstSeen: p.first_seen, lastSeen: p.last_seen };
        for (const k of ["reason", "service", "product", "version", "extrainfo", "tunnel", "method"] as const) if (p[k] !== null && p[k] !== undefined) (lp as any)[k] = p[k];
        if (p.conf !== null && p.conf !== undefined) lp.conf = Number(p.conf);
        if (p.cpe) lp.cpe = JSON.parse(p.cpe);
        if (p.scripts) lp.scripts = JSON.parse(p.scripts);
        return lp;
      }),
    }));
    return out.sort((a, b) => ipSortKey(a.ip).localeCompare(ipSortKey(b.ip)));
  }

  history(project: string, ip?: string): HistoryRow[] {
    const pid = this.projectId(project, false);
    return this.db
      .query(
        `SELECT h.ip, p.proto, p.port, x.field, x.old, x.new, x.at, x.run_id AS runId FROM history x JOIN ports p ON p.id=x.port_id JOIN hosts h ON h.id=p.host_id
         WHERE h.project_id=? ${ip ? "AND h.ip=?" : ""} ORDER BY x.id`,
      )
      .all(...(ip ? [pid, ip] : [pid])) as HistoryRow[];
  }

  startRun(r: { id: string; project: string; profile: string; mode: ImportMode; targets: string[] }): void {
    const pid = this.projectId(r.project);
    // Sorted, so that two runs of the same target set have the same text (diff finds them by it).
    this.db.query("INSERT INTO runs (id, project_id, profile, mode, targets, status, started_at) VALUES (?, ?, ?, ?, ?, 'started', ?)").run(r.id, pid, r.profile, r.mode, JSON.stringify([...r.targets].sort()), Date.now());
  }

  /**
   * The two latest finished runs that compare like with like: the project's latest finished run and
   * the finished run before it of the same schedule, or (not scheduled) of the same target set and
   * profile. Cancelled, failed and partial runs never count. Two indexed look-ups, whatever the history.
   */
  comparableRuns(project: string): { runs: [RunRecord, RunRecord] } | { latest: RunRecord | null } {
    const pid = this.projectId(project, false);
    const q = "SELECT r.*, r.rowid AS rowid, p.name AS project FROM runs r JOIN projects p ON p.id=r.project_id WHERE r.project_id=? AND r.status='finished'";
    const last = this.db.query(`${q} ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1`).get(pid) as Record<string, any> | null;
    if (!last) return { latest: null };
    const prev = (last.schedule_id
      ? this.db.query(`${q} AND r.schedule_id=? AND r.rowid<? ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1`).get(pid, last.schedule_id, last.rowid ?? Number.MAX_SAFE_INTEGER)
      : this.db.query(`${q} AND r.schedule_id IS NULL AND r.profile=? AND r.targets=? AND r.id<>? AND r.started_at<=? ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1`).get(pid, last.profile, last.targets, last.id, last.started_at)) as Record<string, any> | null;
    return prev ? { runs: [toRun(prev), toRun(last)] } : { latest: toRun(last) };
  }

  finishRun(id: string, status: string, hosts: ScanHost[], meta?: XmlMeta): void {
    this.db.query("UPDATE runs SET status=?, finished_at=?, hosts=?, meta=COALESCE(?, meta) WHERE id=?").run(status, Date.now(), JSON.stringify(hosts), meta ? JSON.stringify(meta) : null, id);
  }

  /** How the project's latest finished run with one was made (args, times, scaninfo), for XML exports. */
  latestMeta(project: string): XmlMeta | null {
    const pid = this.projectId(project, false);
    const r = this.db.query("SELECT meta FROM runs WHERE project_id=? AND status='finished' AND meta IS NOT NULL ORDER BY started_at DESC, rowid DESC LIMIT 1").get(pid) as { meta: string } | null;
    return r ? JSON.parse(r.meta) : null;
  }

  /**
   * Add one target's result to a run shared by many tasks (one task per target, same run_id):
   * the run is created on first use; its hosts and targets accumulate; a failed target marks it partial.
   */
  appendToRun(r: { id: string; project: string; profile: string; mode: ImportMode; target: string; status: string; hosts: ScanHost[]; scheduleId?: string }): void {
    this.appendManyToRun(r, [{ target: r.target, status: r.status, hosts: r.hosts }]);
  }

  /**
   * Several targets' ends at once (a host sweep's down and unreachable addresses): one read and one
   * write of the run, however many targets (a /16 must not rewrite the run 65 536 times). Adding the
   * same target again changes nothing but its hosts, so a sweep task run twice records it once.
   */
  appendManyToRun(r: { id: string; project: string; profile: string; mode: ImportMode; scheduleId?: string }, ends: { target: string; status: string; hosts: ScanHost[] }[]): void {
    if (!ends.length) return;
    const pid = this.projectId(r.project);
    this.db.transaction(() => {
      const cur = this.db.query("SELECT targets, hosts, status FROM runs WHERE id=?").get(r.id) as { targets: string; hosts: string; status: string } | null;
      const now = Date.now();
      const scanned = ends.every((e) => scannedStatus(e.status));
      const incoming = ends.flatMap((e) => e.hosts);
      const replaced = new Set(incoming.map((h) => h.ip));
      if (!cur) {
        this.db.query("INSERT INTO runs (id, project_id, profile, mode, targets, status, started_at, finished_at, hosts, schedule_id) VALUES (?,?,?,?,?,?,?,?,?,?)")
          .run(r.id, pid, r.profile, r.mode, JSON.stringify([...new Set(ends.map((e) => e.target))].sort()), scanned ? "finished" : "partial", now, now, JSON.stringify(incoming), r.scheduleId ?? null);
        return;
      }
      const targets = [...new Set([...JSON.parse(cur.targets), ...ends.map((e) => e.target)])].sort();
      const hosts = [...(JSON.parse(cur.hosts) as ScanHost[]).filter((h) => !replaced.has(h.ip)), ...incoming];
      const status = cur.status === "finished" && scanned ? "finished" : "partial";
      this.db.query("UPDATE runs SET targets=?, hosts=?, status=?, finished_at=? WHERE id=?").run(JSON.stringify(targets), JSON.stringify(hosts), status, now, r.id);
    }).immediate();
  }

  /**
   * Rows marked for sync: ports whose history has entries past the acknowledged cursor, oldest
   * change first. `upTo` is the history id to pass to markSynced once the master has acked them;
   * a port changed again later comes back in a later call.
   */
  pendingSync(limit = 500, cursor = "master"): { rows: SyncPortRow[]; upTo: number } {
    const from = (this.db.query("SELECT history_id FROM sync_cursor WHERE name=?").get(cursor) as { history_id: number } | null)?.history_id ?? 0;
    const rows = this.db
      .query(
        `SELECT MAX(x.id) AS hid, pr.name AS project, h.ip, p.proto, p.port, p.state, p.service, p.product, p.version, p.extrainfo, p.last_seen
         FROM history x JOIN ports p ON p.id=x.port_id JOIN hosts h ON h.id=p.host_id JOIN projects pr ON pr.id=h.project_id
         WHERE x.id > ? GROUP BY x.port_id ORDER BY hid LIMIT ?`,
      )
      .all(from, limit) as Record<string, any>[];
    return {
      rows: rows.map((r) => ({ project: r.project, ip: r.ip, proto: r.proto, port: r.port, state: r.state, service: r.service, product: r.product, version: r.version, extrainfo: r.extrainfo, lastSeen: r.last_seen })),
      upTo: rows.length ? rows[rows.length - 1]!.hid : from,
    };
  }

  /** Move the sync cursor forward, only ever after the master acknowledged the rows up to `upTo`. */
  markSynced(upTo: number, cursor = "master"): void {
    this.db.query("INSERT INTO sync_cursor (name, history_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET history_id=MAX(history_id, ?2)").run(cursor, upTo);
  }

  runs(project: string): RunRecord[] {
    const pid = this.projectId(project, false);
    return (this.db.query("SELECT r.*, p.name AS project FROM runs r JOIN projects p ON p.id=r.project_id WHERE project_id=? ORDER BY r.started_at, r.rowid").all(pid) as Record<string, any>[]).map(toRun);
  }

  run(id: string): RunRecord {
    const row = this.db.query("SELECT r.*, p.name AS project FROM runs r JOIN projects p ON p.id=r.project_id WHERE r.id=?").get(id) as Record<string, any> | null;
    if (!row) throw inputError(`no scan run \`${id}\``);
    return toRun(row);
  }
}

/** A target's end that counts as scanned (see runner.ts TargetStatus). */
const scannedStatus = (s: string) => s === "up" || s === "down" || s === "finished";

function toRun(r: Record<string, any>): RunRecord {
  return { id: r.id, scheduleId: r.schedule_id ?? null, project: r.project, profile: r.profile, mode: r.mode, targets: JSON.parse(r.targets), status: r.status, startedAt: r.started_at, finishedAt: r.finished_at, hosts: JSON.parse(r.hosts) };
}

/** Sort IPv4 numerically, IPv6 after. */
export function ipSortKey(ip: string): string {
  if (ip.includes(":")) return "z" + ip;
  return ip.split(".").map((o) => o.padStart(3, "0")).join(".");
}

export interface DiffEntry {
  ip: string;
  proto: string;
  port: number;
  before?: { service?: string; product?: string; version?: string };
  after?: { service?: string; product?: string; version?: string };
}

export interface RunDiff {
  from: string;
  to: string;
  opened: DiffEntry[];
  closed: DiffEntry[];
  changed: DiffEntry[];
}

/**
 * What differs between two runs, on the targets both scanned (a schedule's tick may skip a target
 * that was still being scanned: it is neither opened nor closed by that).
 */
export function diffRuns(a: RunRecord, b: RunRecord): RunDiff {
  const inA = new Set(a.targets), inB = new Set(b.targets);
  return diffHosts(a.hosts.filter((h) => inB.has(h.ip)), b.hosts.filter((h) => inA.has(h.ip)), a.id, b.id);
}

/** What differs between two sets of hosts: ports opened, closed, or with another service/product/version. */
export function diffHosts(a: ScanHost[], b: ScanHost[], from = "a", to = "b"): RunDiff {
  const flat = (hs: ScanHost[]) => {
    const m = new Map<string, DiffEntry & { svc: DiffEntry["after"] }>();
    for (const h of hs) for (const p of h.ports) if (p.state === "open" || p.state === "open|filtered")
      m.set(`${h.ip} ${p.proto}/${p.port}`, { ip: h.ip, proto: p.proto, port: p.port, svc: { service: p.service, product: p.product, version: p.version } });
    return m;
  };
  const A = flat(a), B = flat(b);
  const d: RunDiff = { from, to, opened: [], closed: [], changed: [] };
  for (const [k, e] of B) {
    const o = A.get(k);
    if (!o) d.opened.push({ ip: e.ip, proto: e.proto, port: e.port, after: e.svc });
    else if (JSON.stringify(o.svc) !== JSON.stringify(e.svc)) d.changed.push({ ip: e.ip, proto: e.proto, port: e.port, before: o.svc, after: e.svc });
  }
  for (const [k, e] of A) if (!B.has(k)) d.closed.push({ ip: e.ip, proto: e.proto, port: e.port, before: e.svc });
  return d;
}
