import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { ensureDir } from "../core/paths.ts";
import { VERSION } from "../core/version.ts";
import type { Message } from "./frame.ts";
import { groupsDelta, groupsHash, normalize, type Assignments, type GroupDef, type GroupsPush } from "./groups.ts";
import { HandshakeRefused, serverHandshake } from "./handshake.ts";
import { badPath, compareStatus, differingDirs, dirDigests, Excluder, fromWire, parentOf, toWire, TreeScanner, type FileStatus, type Refused, type ScanResult } from "./integrity.ts";
import { decodeJson, encodeJson, integritySchema, ProtocolError, syncResultSchema, type Hello, type IntegrityReply, type Plan, type Settings } from "./protocol.ts";
import { Admission } from "./admission.ts";
import { Session } from "./session.ts";
import type { StatusDoc } from "./status.ts";
import type { NodeOptions } from "./node-options.ts";
import { MasterStore } from "./store.ts";
import { compressFor, sendTransfer, TransferError, type CompressMode } from "./transfer.ts";
import { infoSchema } from "./worker-info.ts";

/** How old (from its start) a walk of the master's tree may be and still answer an integrity check. */
const SCAN_REUSE_MS = 1000;

/** Refused entries listed by name in status (the count covers all). */
export const REFUSED_SHOWN = 50;

export interface MasterOptions extends NodeOptions {
  exclude: string[];
  keepaliveS: number;
  /** A worker silent this long is dropped. */
  dropAfterS: number;
  /** Workers' integrity/info period and the groups push period. */
  intervalS: number;
  mismatchLimit: number;
  preAuthS: number;
  /** Connections allowed in the handshake at once; a new one past this evicts an old one (see Admission). */
  maxPreAuth: number;
  /** The same, per source address. */
  maxPreAuthPerAddr: number;
  compress: CompressMode;
  definitions: Record<string, GroupDef>;
}

interface NodeConn {
  name: string;
  session: Session;
  hello: Hello;
  connectedAt: number;
  busy: boolean;
  checks: number;
  sentGroups: Assignments | null;
}

/**
 * The master: holds the tree, answers integrity checks with the files a worker lacks, stores what
 * workers report, and pushes group assignments. One Session per worker; a worker's failure never
 * touches the others.
 */
export class SyncMaster {
  private server: Server | null = null;
  private nodes = new Map<string, NodeConn>();
  private clients = new Set<Session>();
  private admission: Admission;
  private scanner: TreeScanner;
  private scanning: Promise<ScanResult> | null = null;
  private recent: ScanResult | null = null;
  private scanningSince = 0;
  private lastScan: { at: number; files: number; bytes: number; refused: Refused[] } | null = null;
  private warnedRefused = new Set<string>();
  private nextTransfer = 1;
  private lastPrefetch = 0;
  private timers: ReturnType<typeof setInterval>[] = [];
  private warnedLinks = new Set<string>();
  readonly store: MasterStore;
  port = 0;

  constructor(readonly o: MasterOptions) {
    const dirKey = createHash("sha256").update(o.dir).digest("hex").slice(0, 16);
    this.scanner = new TreeScanner(o.dir, new Excluder(o.exclude), join(ensureDir(join(o.home, "sync")), `master-cache-${dirKey}.json`), true);
    this.scanner.onLink = (p) => {
      if (this.warnedLinks.has(p)) return;
      this.warnedLinks.add(p);
      this.o.log.warn({ event: "symlink_skipped", path: p }, `symlink ${p} is not synced (links are never followed or copied)`);
    };
    this.store = MasterStore.open(o.home);
    this.admission = new Admission(o.maxPreAuth, o.maxPreAuthPerAddr, (n, why) =>
      this.o.log.warn({ event: "handshakes_evicted", count: n, reason: why }, `cut ${n} unauthenticated connections (${why}) to make room for new ones`),
    );
  }

  get settings(): Settings {
    return { exclude: this.o.exclude, keepalive_s: this.o.keepaliveS, interval_s: this.o.intervalS, mismatch_limit: this.o.mismatchLimit };
  }

  async start(): Promise<number> {
    // The port first: a port in use is reported at once, not after hashing the whole tree.
    this.server = createServer((sock) => this.onConnection(sock));
    this.server.maxConnections = 10_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.o.port, this.o.host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    // Hash the tree before the first worker asks, so its first sync does not wait for it (a
    // worker connecting meanwhile shares this walk).
    await this.scan(Date.now());
    this.timers.push(setInterval(() => this.dropSilent(), Math.min(1000, this.o.keepaliveS * 1000)));
    this.timers.push(setInterval(() => this.pushGroupsAll(), this.o.intervalS * 1000));
    return this.port;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.server?.close();
    for (const n of this.nodes.values()) n.session.close("master stopping");
    for (const c of this.clients) c.close("master stopping");
    this.store.close();
  }

  /**
   * The master's status as of no earlier than `notBefore`: concurrent askers share one walk, and a
   * walk that began after `notBefore` is reused, so a hundred workers checking at once cost one walk.
   */
  private async scan(notBefore: number): Promise<ScanResult> {
    if (this.recent && this.recent.startedAt >= notBefore) return this.recent;
    if (this.scanning && this.scanningSince >= notBefore) return this.scanning;
    if (this.scanning) await this.scanning.catch(() => {});
    if (this.recent && this.recent.startedAt >= notBefore) return this.recent;
    this.scanningSince = Date.now();
    this.scanning = this.scanner
      .scan()
      .then((r) => {
        let bytes = 0;
        for (const f of r.files.values()) bytes += f.size;
        this.recent = r;
        this.lastScan = { at: Date.now(), files: r.files.size, bytes, refused: r.refused };
        for (const x of r.refused) {
          if (this.warnedRefused.has(x.path)) continue;
          this.warnedRefused.add(x.path);
          this.o.log.warn({ event: "entry_refused", path: x.path, reason: x.why }, `${x.path} is not synced: ${x.why}`);
        }
        // Forget fixed ones, so one that comes back is named again.
        if (this.warnedRefused.size > r.refused.length) this.warnedRefused = new Set(r.refused.map((x) => x.path));
        if (r.hashed) this.o.log.debug({ event: "tree_hashed", files: r.hashed, bytes: r.hashedBytes }, `hashed ${r.hashed} files`);
        this.scanner.saveCache();
        return r;
      })
      .finally(() => {
        this.scanning = null;
      });
    return this.scanning;
  }

  private onConnection(sock: Socket): void {
    const remote = `${sock.remoteAddress}:${sock.remotePort}`;
    const slot = this.admission.admit(sock);
    // A worker's first check follows its handshake at once and must see the tree as of this
    // moment: start walking now, while it proves the key. At most once a second, so connections
    // that never authenticate cannot keep the master walking.
    const acceptedAt = Date.now();
    if (acceptedAt - this.lastPrefetch >= SCAN_REUSE_MS) {
      this.lastPrefetch = acceptedAt;
      this.scan(acceptedAt).catch(() => {});
    }
    const session = new Session(sock, this.o.limits, this.o.log);
    let conn: NodeConn | null = null;
    serverHandshake(session, {
      key: this.o.key,
      name: this.o.name,
      cluster: this.o.cluster,
      settings: this.settings,
      timeoutMs: this.o.preAuthS * 1000,
      admit: (hello) => {
        if (hello.role !== "worker") return null;
        if (this.nodes.has(hello.name)) return { error: `node name \`${hello.name}\` is already connected`, code: "duplicate" };
        conn = { name: hello.name, session, hello, connectedAt: acceptedAt, busy: false, checks: 0, sentGroups: null };
        this.nodes.set(hello.name, conn);
        return null;
      },
    }).then(
      (hello) => {
        slot.done();
        if (hello.role === "client") return this.attachClient(session);
        this.attach(conn!);
      },
      (e: HandshakeRefused) => {
        slot.done();
        if (e.code === "closed" || e.code === "timeout") {
          this.o.log.info({ event: "handshake_failed", remote, reason: e.message }, `handshake with ${remote} failed: ${e.message}`);
          return;
        }
        this.o.log.warn({ event: "node_refused", remote, code: e.code, reason: e.message }, `refused node from ${remote}: ${e.message}`);
      },
    );
  }

  private attachClient(session: Session): void {
    this.clients.add(session);
    session.onClose(() => this.clients.delete(session));
    session.onMessage = (m) => {
      if (m.cmd === "status") session.reply(m.counter, encodeJson(this.status()));
      else session.replyError(m.counter, `a status client may only ask for status, not ${m.cmd}`, "forbidden");
    };
  }

  private attach(conn: NodeConn): void {
    const { session, name } = conn;
    const log = this.o.log.child({ node: name });
    this.store.nodeSeen(name, session.remote, conn.hello.version);
    log.info({ event: "node_connected", remote: session.remote }, `node ${name} connected from ${session.remote}`);
    // Its first integrity check follows at once: the walk begun at accept serves it, or one starts now.
    this.scan(conn.connectedAt).catch(() => {});
    session.onClose((reason) => {
      if (this.nodes.get(name) === conn) this.nodes.delete(name);
      this.store.touch(name);
      log.info({ event: "node_disconnected", reason }, `node ${name} disconnected: ${reason}`);
    });
    session.onMessage = (m) => {
      this.handle(conn, m).catch((e) => {
        if (session.closed) return;
        const code = e instanceof ProtocolError ? "invalid" : "error";
        log.warn({ event: "request_refused", cmd: m.cmd, reason: (e as Error).message }, `refused ${m.cmd} from ${name}: ${(e as Error).message}`);
        session.replyError(m.counter, (e as Error).message, code);
      });
    };
    this.pushGroups(conn);
  }

  private async handle(conn: NodeConn, m: Message): Promise<void> {
    const s = conn.session;
    switch (m.cmd) {
      case "keepalive":
        s.reply(m.counter, encodeJson({ at: Date.now() }));
        return;
      case "integrity":
        return this.integrity(conn, m);
      case "sync_result": {
        const r = decodeJson(syncResultSchema, m.payload, "sync_result");
        const { id, ok, error, duration_ms, ...counts } = r;
        this.store.addSync(conn.name, "integrity", { at: Date.now() - duration_ms, durationMs: duration_ms, ok, error: error ?? null, transfer: id, ...counts });
        const lvl = ok ? "info" : "warn";
        this.o.log[lvl]({ event: "sync_done", node: conn.name, ok, error, duration_ms, ...counts }, `node ${conn.name} ${ok ? "synced" : "failed to sync"} in ${Math.round(duration_ms)} ms`);
        s.reply(m.counter, encodeJson({}));
        return;
      }
      case "info": {
        const t0 = performance.now();
        const info = decodeJson(infoSchema, m.payload, "info");
        if (info.record) this.store.setRecord(conn.name, info.record);
        const n = this.store.storePorts(conn.name, info.rows);
        // One send is a record and its first rows, then more chunks of rows: status shows the send's totals.
        if (info.record) this.store.addSync(conn.name, "info", { at: Date.now(), durationMs: performance.now() - t0, ok: true, error: null, rows: n, chunks: 1, record: true });
        else this.store.addToLastInfo(conn.name, n, performance.now() - t0);
        s.reply(m.counter, encodeJson({ stored: n }));
        return;
      }
      case "groups_full":
        this.o.log.info({ event: "groups_full_sent", node: conn.name }, `node ${conn.name} asked for the full groups table`);
        s.reply(m.counter, encodeJson(this.groupsPush(null).push));
        return;
      case "status":
        s.reply(m.counter, encodeJson(this.status()));
        return;
      default:
        s.replyError(m.counter, `unknown command ${m.cmd}`, "unknown");
    }
  }

  private async integrity(conn: NodeConn, m: Message): Promise<void> {
    const s = conn.session;
    if (conn.busy) return s.replyError(m.counter, "a sync is already running for this node", "busy");
    conn.busy = true;
    try {
      const req = decodeJson(integritySchema, m.payload, "integrity");
      // A node's first check sees the tree as of its connection at least (what `--once` promises);
      // later periodic checks may share a walk up to SCAN_REUSE_MS old, the next check sees what it missed.
      const master = await this.scan(conn.checks++ === 0 ? conn.connectedAt : Date.now() - SCAN_REUSE_MS);
      if (!req.files && !req.dirs) {
        const same = master.digest === req.digest;
        s.reply(m.counter, encodeJson({ transfer: null, ...(same ? {} : { need: "dirs" as const }), missing: 0, shared: 0, extra: 0, bytes: 0 } satisfies IntegrityReply));
        return;
      }
      if (!req.files) {
        for (const [d] of req.dirs!) if (d !== "" && badPath(d)) throw new ProtocolError(`refused path \`${d.slice(0, 200)}\`: ${badPath(d)}`);
        const diffDirs = differingDirs(dirDigests(master.files.values()), new Map(req.dirs));
        s.reply(m.counter, encodeJson({ transfer: null, need: "files", dirs: diffDirs, missing: 0, shared: 0, extra: 0, bytes: 0 } satisfies IntegrityReply));
        return;
      }
      const scope = req.scope ? new Set(req.scope) : null;
      const worker = new Map<string, FileStatus>();
      for (const w of req.files) {
        const why = badPath(w[0]);
        if (why) throw new ProtocolError(`refused path \`${w[0].slice(0, 200)}\`: ${why}`);
        if (scope && !scope.has(parentOf(w[0]))) throw new ProtocolError(`\`${w[0].slice(0, 200)}\` is outside the directories asked for`);
        worker.set(w[0], fromWire(w));
      }
      let mine = master.files;
      if (scope) {
        mine = new Map();
        for (const [p, f] of master.files) if (scope.has(parentOf(p))) mine.set(p, f);
      }
      const diff = compareStatus(mine, worker);
      const send = [...diff.missing, ...diff.shared];
      const files = send.filter((f) => f.kind === "f");
      const dirs = send.filter((f) => f.kind === "d");
      const remove = [...diff.extra];
      for (const f of diff.shared) {
        const w = worker.get(f.path)!;
        if (w.kind !== f.kind) remove.push(w);
      }
      const bytes = files.reduce((a, f) => a + f.size, 0);
      const counts = { missing: diff.missing.length, shared: diff.shared.length, extra: diff.extra.length, bytes };
      if (!files.length && !dirs.length && !remove.length) {
        s.reply(m.counter, encodeJson({ transfer: null, ...counts } satisfies IntegrityReply));
        return;
      }
      const id = this.nextTransfer++;
      const plan: Plan = { id, files: files.map(toWire), dirs: dirs.map(toWire), remove: remove.map(toWire), missing: counts.missing, shared: counts.shared, extra: counts.extra };
      s.reply(m.counter, encodeJson({ transfer: id, ...counts } satisfies IntegrityReply));
      this.o.log.info({ event: "transfer_start", node: conn.name, transfer: id, files: files.length, ...counts }, `sending ${files.length} files (${bytes} bytes) to ${conn.name}`);
      try {
        const st = await sendTransfer(s, plan, this.o.dir, compressFor(this.o.compress, s.sock.remoteAddress));
        this.o.log.debug({ event: "transfer_sent", node: conn.name, transfer: id, ...st }, `transfer ${id} sent`);
      } catch (e) {
        if (!(e instanceof TransferError) && !s.closed) throw e;
        this.o.log.warn({ event: "transfer_aborted", node: conn.name, transfer: id, reason: (e as Error).message }, `transfer to ${conn.name} stopped: ${(e as Error).message}`);
      }
    } finally {
      conn.busy = false;
    }
  }

  private groupsPush(sent: Assignments | null): { push: GroupsPush; now: Assignments } {
    const now = normalize(this.store.groups());
    const d = groupsDelta(sent, now);
    return { push: { hash: groupsHash(now), full: d.full, set: d.set, removed: d.removed, definitions: this.o.definitions }, now };
  }

  private pushGroups(conn: NodeConn): void {
    if (conn.session.closed) return;
    try {
      const { push, now } = this.groupsPush(conn.sentGroups);
      conn.session.send("groups", encodeJson(push));
      if (Object.keys(push.set).length || push.removed.length)
        this.o.log.debug({ event: "groups_pushed", node: conn.name, changed: Object.keys(push.set).length + push.removed.length }, `groups pushed to ${conn.name}`);
      conn.sentGroups = now;
    } catch (e) {
      this.o.log.warn({ event: "groups_push_failed", node: conn.name, reason: (e as Error).message }, `groups push to ${conn.name} failed`);
    }
  }

  pushGroupsAll(): void {
    for (const c of this.nodes.values()) this.pushGroups(c);
  }

  private dropSilent(): void {
    const limit = this.o.dropAfterS * 1000;
    const now = Date.now();
    for (const c of this.nodes.values()) {
      if (now - c.session.lastRecvAt > limit) {
        this.o.log.warn({ event: "node_dropped", node: c.name, silent_s: Math.round((now - c.session.lastRecvAt) / 1000) }, `dropped ${c.name}: silent for more than ${this.o.dropAfterS} s`);
        c.session.close("silent for too long");
      }
    }
  }

  status(): StatusDoc {
    const groups = normalize(this.store.groups());
    const rows = this.store.nodes();
    const names = new Set([...rows.map((r) => r.name), ...this.nodes.keys()]);
    const nodes = [...names].sort().map((name) => {
      const r = rows.find((x) => x.name === name);
      const live = this.nodes.get(name);
      return {
        name,
        state: live ? ("connected" as const) : ("disconnected" as const),
        address: live?.session.remote ?? r?.address ?? null,
        version: r?.version ?? null,
        connectedAt: live?.connectedAt ?? r?.connectedAt ?? null,
        lastSeen: live ? live.session.lastRecvAt : (r?.lastSeen ?? null),
        groups: groups[name] ?? [],
        lastIntegrity: this.store.lastSync(name, "integrity"),
        lastInfo: this.store.lastSync(name, "info"),
        lastError: this.store.lastError(name),
        ports: this.store.portCount(name),
        record: r?.record ?? null,
      };
    });
    return {
      at: Date.now(),
      master: {
        name: this.o.name,
        cluster: this.o.cluster,
        version: VERSION,
        listen: `${this.o.host}:${this.port}`,
        dir: this.o.dir,
        files: this.lastScan?.files ?? 0,
        bytes: this.lastScan?.bytes ?? 0,
        scannedAt: this.lastScan?.at ?? null,
        refused: (this.lastScan?.refused ?? []).slice(0, REFUSED_SHOWN),
        refusedCount: this.lastScan?.refused.length ?? 0,
      },
      nodes,
      groupsHash: groupsHash(groups),
    };
  }
}
