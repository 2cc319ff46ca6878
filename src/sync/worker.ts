import { mkdirSync, statSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { unavailable, usageError, workFailed } from "../core/errors.ts";
import { Backoff } from "../core/backoff.ts";
import { ensureDir } from "../core/paths.ts";
import type { Ledger } from "../scan/ledger.ts";
import { commitTree, JournalError, recoverTree, SimulatedCrash, stateDir } from "./commit.ts";
import { lockTree, type TreeLock } from "./tree-lock.ts";
import type { Message } from "./frame.ts";
import { groupsPushSchema, WorkerGroups } from "./groups.ts";
import { clientHandshake, HandshakeRefused } from "./handshake.ts";
import { dirDigests, Excluder, parentOf, sameList, toWire, TreeScanner, type Refused, type ScanResult } from "./integrity.ts";
import { decodeJson, encodeJson, integrityReplySchema, type IntegrityRequest, planSchema, syncAbortSchema, syncEndSchema, type Plan, type Settings, type SyncResult } from "./protocol.ts";
import { ClosedError, RemoteError, Session } from "./session.ts";
import { statusSchema, type StatusDoc } from "./status.ts";
import { StagingWriter } from "./stager.ts";
import { Receiver, TransferError } from "./transfer.ts";
import type { NodeOptions } from "./node-options.ts";
import { sendInfo, type InfoMessage, type NodeRecord } from "./worker-info.ts";

export interface WorkerOptions extends NodeOptions {
  /** Longest wait between reconnection attempts. */
  reconnectMaxS: number;
  handshakeS: number;
  record: () => Promise<NodeRecord>;
  ledger: () => Promise<Ledger | null>;
  /** Tests: a commit step at which to fail (rolled back) or stop dead as a killed process would. */
  commitFault?: () => { failAt?: number; crashAt?: number } | undefined;
  /** Move an unreadable commit journal and its backups aside instead of stopping (`--recover`). */
  recover?: boolean;
}

export interface RoundResult {
  ok: boolean;
  inSync: boolean;
  error?: string;
  missing: number;
  shared: number;
  extra: number;
  files: number;
  /** File bytes written into the tree. */
  bytes: number;
  /** Bytes on the wire, both directions, during the round. */
  wireBytes: number;
  durationMs: number;
  /** Where the time went: status of the local tree, data in (to the last byte), commit. */
  scanMs: number;
  receiveMs: number;
  commitMs: number;
  at: number;
}

interface TransferDone {
  /** Folders the master replaced that could not be removed (see commit.ts unblock). */
  blocked: string[];
  files: number;
  bytes: number;
  receiveMs: number;
  commitMs: number;
}

interface Transfer {
  id: number;
  receiver: Receiver | null;
  plan: Plan | null;
  failed: string | null;
  /** Settled (committed, refused or aborted); the round that asked for it removes it. */
  done: boolean;
  lastDataAt: number;
  resolve: (r: TransferDone) => void;
  reject: (e: Error) => void;
  promise: Promise<TransferDone>;
}

/** Trees up to this many entries send their status list with the first request (about 100 bytes an entry). */
const SMALL_TREE = 256;

const sleep = (ms: number, wake: { fn?: () => void }) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    wake.fn = () => {
      clearTimeout(t);
      resolve();
    };
  });

/**
 * A worker node: mirrors the master's tree, sends its info up, keeps the groups the master
 * assigns. Any failure ends the session; the worker reconnects with backoff and keeps its tree
 * (and everything else on the node) working while the master is away.
 */
export class SyncWorker {
  private session: Session | null = null;
  private scanner: TreeScanner;
  private transfers = new Map<number, Transfer>();
  readonly groups: WorkerGroups;
  private stopped = false;
  private wake: { fn?: () => void } = {};
  private lock: TreeLock;
  settings: Settings | null = null;
  private warnedRefused = new Set<string>();
  lastRound: RoundResult | null = null;

  constructor(readonly o: WorkerOptions) {
    mkdirSync(o.dir, { recursive: true });
    const sd = ensureDir(stateDir(o.dir), 0o700);
    if (statSync(sd).dev !== statSync(o.dir).dev)
      throw usageError(`${sd} is on another filesystem than ${o.dir}: the tree's parent must hold the staging area so commits are atomic renames`);
    this.scanner = new TreeScanner(o.dir, new Excluder([]), join(stateDir(o.dir), "cache.json"), false, false);
    this.groups = new WorkerGroups(join(ensureDir(join(o.home, "sync")), "groups.json"), o.name);
    this.lock = lockTree(sd, o.dir);
    let rec: ReturnType<typeof recoverTree>;
    try {
      rec = recoverTree(o.dir, o.recover ?? false);
    } catch (e) {
      this.lock.release();
      if (e instanceof JournalError) throw workFailed(e.message);
      throw e;
    }
    if (rec === true) o.log.warn({ event: "commit_rolled_back" }, "an unfinished commit from a previous run was rolled back; the tree is as before it");
    else if (rec)
      o.log.warn({ event: "journal_set_aside", journal: rec.journal, backups: rec.backups }, `unreadable commit journal moved to ${rec.journal}, its backups to ${rec.backups}; the next sync repairs the tree from the master`);
  }

  /** Let go of the tree (the lock), for a caller that goes on without this worker; the process ending does the same. */
  close(): void {
    this.lock.release();
  }

  get connected(): boolean {
    return !!this.session && this.session.authenticated && !this.session.closed;
  }

  stop(): void {
    this.stopped = true;
    // The lock stays until the process ends: a transfer already verified may still be committing.
    this.session?.close("worker stopping");
    this.wake.fn?.();
  }

  async connect(): Promise<Session> {
    const { host, port } = this.o;
    const sock = createConnection({ host, port });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no TCP connection to ${host}:${port} within ${this.o.handshakeS} s`));
      }, this.o.handshakeS * 1000);
      sock.once("connect", () => {
        clearTimeout(t);
        resolve();
      });
      sock.once("error", (e) => {
        clearTimeout(t);
        reject(new Error(`cannot connect to ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? e.message})`));
      });
    });
    const session = new Session(sock, this.o.limits, this.o.log);
    const r = await clientHandshake(session, { key: this.o.key, name: this.o.name, cluster: this.o.cluster, role: "worker", timeoutMs: this.o.handshakeS * 1000 });
    this.settings = r.settings;
    this.scanner.excluder = new Excluder(r.settings.exclude);
    session.onMessage = (m) => this.onMessage(session, m);
    session.onClose((reason) => {
      for (const t of this.transfers.values()) {
        t.receiver?.discard();
        t.reject(new ClosedError(reason));
      }
      this.transfers.clear();
    });
    this.session = session;
    return session;
  }

  /** Connect, sync, report, and reconnect with backoff after any failure, until stop(). */
  async run(): Promise<void> {
    const backoff = new Backoff({ baseMs: 500, maxMs: this.o.reconnectMaxS * 1000, jitter: 0.3 });
    while (!this.stopped) {
      try {
        const s = await this.connect();
        backoff.reset();
        this.o.log.info({ event: "worker_connected", master: s.peer, address: `${this.o.host}:${this.o.port}` }, `connected to master ${s.peer} at ${this.o.host}:${this.o.port}`);
        await this.serve(s);
        if (!this.stopped) this.o.log.warn({ event: "master_lost", reason: s.closeReason }, `lost the master: ${s.closeReason}`);
      } catch (e) {
        const err = e as Error;
        // A connection that closes or goes quiet is not a refusal: the master may be restarting or busy.
        if (err instanceof HandshakeRefused && (err.code === "closed" || err.code === "timeout"))
          this.o.log.warn({ event: "connect_failed", code: err.code, reason: err.message }, err.message);
        else if (err instanceof HandshakeRefused && err.code === "key")
          this.o.log.error({ event: "master_refused", code: err.code, reason: err.message }, `${err.message}: check --key-file against the master's`);
        else if (err instanceof HandshakeRefused)
          this.o.log.error({ event: "master_refused", code: err.code, reason: err.message }, err.message);
        else this.o.log.warn({ event: "connect_failed", reason: err.message }, err.message);
      }
      if (this.stopped) break;
      const delay = backoff.next();
      this.o.log.info({ event: "reconnecting", delay_ms: delay }, `reconnecting in ${(delay / 1000).toFixed(1)} s`);
      await sleep(delay, this.wake);
    }
  }

  /**
   * Keep-alives every `keepalive_s` while the session lasts (a `--once` round too: a long transfer
   * sends nothing else up, and the master drops a worker silent for `drop_after_s`), and the
   * checks that a silent master or a stalled transfer end the session. Returns the timer to clear.
   */
  keepAlive(s: Session): ReturnType<typeof setInterval> {
    const st = this.settings!;
    return setInterval(() => {
      const window = st.keepalive_s * 2000;
      s.request("keepalive", encodeJson({}), window).catch((e) => {
        if (e instanceof ClosedError) return;
        // On a slow link the answer may queue behind file data; silence is what counts.
        if (Date.now() - s.lastRecvAt > window) s.close(`master silent for ${Math.round(window / 1000)} s (no keep-alive answer, no data)`);
      });
      const stallMs = Math.max(30_000, st.keepalive_s * 6000);
      for (const t of this.transfers.values())
        if (!t.done && Date.now() - t.lastDataAt > stallMs) s.close(`transfer ${t.id} stalled for ${Math.round(stallMs / 1000)} s`);
    }, st.keepalive_s * 1000);
  }

  /** The life of one authenticated session: keep-alive, integrity rounds and info sends. */
  private async serve(s: Session): Promise<void> {
    const st = this.settings!;
    const closed = new Promise<void>((resolve) => s.onClose(() => resolve()));
    const keepalive = this.keepAlive(s);
    const loop = async (what: string, fn: () => Promise<unknown>) => {
      while (!s.closed && !this.stopped) {
        try {
          await fn();
        } catch (e) {
          if (e instanceof ClosedError || s.closed) break;
          this.o.log.warn({ event: `${what}_failed`, reason: (e as Error).message }, `${what} failed: ${(e as Error).message}`);
        }
        const w: { fn?: () => void } = {};
        s.onClose(() => w.fn?.());
        if (!s.closed) await sleep(st.interval_s * 1000, w);
      }
    };
    try {
      await Promise.all([loop("integrity", () => this.round(s)), loop("info", () => this.info(s)), closed]);
    } finally {
      clearInterval(keepalive);
    }
  }

  /**
   * Walk the tree before the master's exclude patterns are known, with the ones saved last time,
   * so the walk overlaps with connecting (a `--once` run is mostly this walk). round() walks
   * again only if the master's patterns turn out to differ.
   */
  prescan(): Promise<ScanResult | null> {
    this.scanner.excluder = new Excluder(this.scanner.savedExclude ?? []);
    return this.scanner.scan().catch(() => null);
  }

  /** One integrity check: send the tree's status, receive and commit what differs. */
  async round(s: Session, pre?: Promise<ScanResult | null>): Promise<RoundResult> {
    try {
      return await this.check(s, pre);
    } catch (e) {
      // The master went away mid-round (killed, cut off): nothing was committed. Say so as a failed sync.
      if (e instanceof ClosedError && !this.stopped)
        this.o.log.warn({ event: "sync_failed", reason: `lost the master: ${e.message}` }, `sync failed, the tree is unchanged: lost the master (${e.message})`);
      throw e;
    }
  }

  private async check(s: Session, pre?: Promise<ScanResult | null>): Promise<RoundResult> {
    const t0 = performance.now();
    const wire0 = s.bytesIn + s.bytesOut;
    let scan = pre ? await pre : null;
    if (!scan || !sameList(scan.exclude, this.scanner.excluder.patterns)) scan = await this.scanner.scan();
    this.scanner.saveCache();
    const scanMs = performance.now() - t0;
    const ask = async (extra: Partial<IntegrityRequest>) => {
      const body = encodeJson({ digest: scan.digest, count: scan.files.size, ...extra } satisfies IntegrityRequest);
      return decodeJson(integrityReplySchema, await s.request("integrity", body), "integrity reply");
    };
    // A small tree (an empty one on a first sync) sends its whole list at once: two round trips
    // fewer. An empty tree is about to receive files: its writer thread can start now.
    const small = scan.files.size <= SMALL_TREE;
    if (scan.files.size === 0) StagingWriter.warm();
    let reply = await ask(small ? { files: [...scan.files.values()].map(toWire) } : {});
    // The trees differ: a transfer is likely, start its writer thread while the check narrows down.
    if (reply.need) StagingWriter.warm();
    if (reply.need === "dirs") reply = await ask({ dirs: [...dirDigests(scan.files.values())] });
    if (reply.need === "files") {
      const scope = new Set(reply.dirs ?? []);
      const files = [...scan.files.values()].filter((f) => scope.has(parentOf(f.path)));
      reply = await ask({ scope: [...scope], files: files.map(toWire) });
    }
    if (reply.need) throw new TransferError("the master keeps asking for more of the status");
    const r: RoundResult = { ok: true, inSync: reply.transfer === null, missing: reply.missing, shared: reply.shared, extra: reply.extra, files: 0, bytes: 0, wireBytes: 0, durationMs: 0, scanMs, receiveMs: 0, commitMs: 0, at: Date.now() };
    if (reply.transfer !== null) {
      // The transfer's frames may all have been handled before this line runs: it waits in the map.
      const id = reply.transfer;
      try {
        const got = await this.transfer(id).promise;
        r.files = got.files;
        r.bytes = got.bytes;
        r.receiveMs = got.receiveMs;
        r.commitMs = got.commitMs;
        for (const p of got.blocked) scan.refused.push({ path: p, why: "a folder holding entries that are not synced (excluded or refused): the master's file cannot replace it" });
      } catch (e) {
        if (e instanceof ClosedError) throw e;
        r.ok = false;
        r.error = (e as Error).message.slice(0, 500);
      } finally {
        this.transfers.delete(id);
      }
    }
    this.warnRefused(scan.refused);
    r.durationMs = performance.now() - t0;
    r.wireBytes = s.bytesIn + s.bytesOut - wire0;
    this.lastRound = r;
    const fields = { missing: r.missing, shared: r.shared, extra: r.extra, files: r.files, bytes: r.bytes, wire_bytes: r.wireBytes, duration_ms: Math.round(r.durationMs), scan_ms: Math.round(r.scanMs), receive_ms: Math.round(r.receiveMs), commit_ms: Math.round(r.commitMs) };
    if (!r.ok) this.o.log.warn({ event: "sync_failed", reason: r.error, ...fields }, `sync failed, the tree is unchanged: ${r.error}`);
    else if (r.inSync) this.o.log.debug({ event: "in_sync", ...fields }, "tree in sync");
    else this.o.log.info({ event: "sync_done", ...fields }, `synced ${r.files} files (${r.bytes} bytes), removed ${r.extra} in ${Math.round(r.durationMs)} ms`);
    const result: SyncResult = {
      id: reply.transfer ?? 0,
      ok: r.ok,
      error: r.error,
      missing: r.missing,
      shared: r.shared,
      extra: r.extra,
      files: r.files,
      bytes: r.bytes,
      duration_ms: r.durationMs,
      ...(scan.refused.length ? { refused: scan.refused.slice(0, 50).map((x) => ({ path: x.path.slice(0, 4200), why: x.why.slice(0, 200) })), refused_count: scan.refused.length } : {}),
    };
    await s.request("sync_result", encodeJson(result));
    return r;
  }

  /** Each entry of this node's tree that is left alone is named once (again if it goes and comes back). */
  private warnRefused(list: Refused[]): void {
    const now = new Set<string>();
    for (const x of list) {
      now.add(x.path);
      if (!this.warnedRefused.has(x.path)) this.o.log.warn({ event: "entry_refused", path: x.path, reason: x.why }, `${x.path} in this node's tree is left alone: ${x.why}`);
    }
    this.warnedRefused = now;
  }

  async info(s: Session): Promise<void> {
    const record = await this.o.record();
    const ledger = await this.o.ledger();
    try {
      const send = async (m: InfoMessage) => {
        await s.request("info", encodeJson(m));
      };
      const r = await sendInfo(send, record, ledger);
      if (r.rows) this.o.log.info({ event: "info_sent", rows: r.rows, chunks: r.chunks }, `sent ${r.rows} ledger rows to the master`);
    } finally {
      ledger?.close();
    }
  }

  private transfer(id: number): Transfer {
    let t = this.transfers.get(id);
    if (!t) {
      let resolve!: Transfer["resolve"];
      let reject!: Transfer["reject"];
      const promise = new Promise<TransferDone>((a, b) => {
        resolve = a;
        reject = b;
      });
      promise.catch(() => {});
      t = { id, receiver: null, plan: null, failed: null, done: false, lastDataAt: Date.now(), resolve, reject, promise };
      this.transfers.set(id, t);
    }
    return t;
  }

  private failTransfer(t: Transfer, reason: string): void {
    if (t.failed) return;
    t.failed = reason;
    t.receiver?.discard();
    t.receiver = null;
    this.o.log.warn({ event: "transfer_refused", transfer: t.id, reason }, `transfer ${t.id} refused: ${reason}`);
  }

  /** Frames of a transfer are handled synchronously, in arrival order. */
  private onMessage(s: Session, m: Message): void {
    try {
      switch (m.cmd) {
        case "sync_start": {
          const t = this.transfer(m.counter);
          try {
            const plan = decodeJson(planSchema, m.payload, "sync_start");
            if (plan.id !== m.counter) throw new TransferError("plan id does not match its frames");
            t.plan = plan;
            t.receiver = new Receiver(this.o.dir, plan, s.limits.chunk);
          } catch (e) {
            this.failTransfer(t, (e as Error).message);
          }
          return;
        }
        case "sync_data": {
          const t = this.transfers.get(m.counter);
          if (!t || t.failed || !t.receiver) return;
          t.lastDataAt = Date.now();
          try {
            t.receiver.onData(m.payload);
          } catch (e) {
            this.failTransfer(t, (e as Error).message);
          }
          return;
        }
        case "sync_end":
          return this.onSyncEnd(m);
        case "sync_abort": {
          const a = decodeJson(syncAbortSchema, m.payload, "sync_abort");
          const t = this.transfer(m.counter);
          t.receiver?.discard();
          t.done = true;
          t.reject(new TransferError(`master stopped the transfer: ${a.reason}`));
          return;
        }
        case "groups":
          return this.onGroups(s, m);
        default:
          s.replyError(m.counter, `unknown command ${m.cmd}`, "unknown");
      }
    } catch (e) {
      this.o.log.warn({ event: "message_refused", cmd: m.cmd, reason: (e as Error).message }, `refused ${m.cmd} from the master: ${(e as Error).message}`);
    }
  }

  private onSyncEnd(m: Message): void {
    const t = this.transfer(m.counter);
    t.done = true;
    const finish = async () => {
      const end = decodeJson(syncEndSchema, m.payload, "sync_end");
      if (t.failed || !t.receiver || !t.plan) throw new TransferError(t.failed ?? "data without a plan");
      const rec = t.receiver;
      const staged = await rec.finish(end);
      const receiveMs = Date.now() - rec.startedAt;
      const c0 = performance.now();
      const plan = t.plan;
      const masterHas = new Set([...plan.files.map((f) => f[0]), ...plan.dirs.map((d) => d[0])]);
      const stats = commitTree({
        root: this.o.dir,
        staged,
        stagedRoot: rec.tree,
        dirs: plan.dirs.map((d) => ({ path: d[0], kind: "d", size: 0, mode: d[3], mtime: 0, hash: "" })),
        remove: plan.remove.map((w) => ({ path: w[0], kind: w[1], size: w[2], mode: w[3], mtime: w[4], hash: w[5] })),
        masterHas: (p) => masterHas.has(p),
        warn: (msg) => this.o.log.warn({ event: "commit_flush_failed", reason: msg }, msg),
        ...this.o.commitFault?.(),
      });
      rec.discard();
      // The files just written were verified against the plan's hashes: no need to hash them again.
      rec.files.forEach((f, i) => this.scanner.remember(f.path, rec.stats[i]!, f.hash));
      this.scanner.saveCache();
      return { files: stats.written, bytes: rec.bytes, receiveMs, commitMs: performance.now() - c0, blocked: stats.blocked };
    };
    finish().then(t.resolve, (e) => {
      // A simulated kill leaves the staging area to the next start's recovery, as a real one does.
      if (e instanceof SimulatedCrash) t.receiver?.abandon();
      else t.receiver?.discard();
      t.reject(new TransferError((e as Error).message));
    });
  }

  private onGroups(s: Session, m: Message): void {
    const push = decodeJson(groupsPushSchema, m.payload, "groups");
    const limit = this.settings?.mismatch_limit ?? 3;
    const r = this.groups.apply(push, limit);
    if (r.changed) this.o.log.info({ event: "groups_updated", groups: r.file.groups }, `groups of ${this.o.name}: ${r.file.groups.join(", ") || "(none)"}`);
    if (r.result === "mismatch") this.o.log.debug({ event: "groups_mismatch", count: this.groups.mismatches }, "groups hash differs from the master's");
    if (r.result !== "resync") return;
    this.o.log.info({ event: "groups_full_resync", limit }, `groups hash differed ${limit} times: asking the master for the full table`);
    s.request("groups_full", encodeJson({}))
      .then((body) => {
        const full = decodeJson(groupsPushSchema, body, "groups_full");
        const again = this.groups.apply({ ...full, full: true }, limit);
        this.o.log.info({ event: "groups_resynced", ok: again.result === "ok", groups: again.file.groups }, "groups table replaced by the master's");
      })
      .catch((e) => {
        if (!(e instanceof ClosedError)) this.o.log.warn({ event: "groups_full_failed", reason: (e as Error).message }, `full groups resync failed: ${(e as Error).message}`);
      });
  }

  /** `falc sync status` through this worker: ask the master. */
  async forwardStatus(): Promise<StatusDoc> {
    const s = this.session;
    if (!s || !this.connected) throw unavailable(`worker ${this.o.name} is not connected to its master (${this.o.host}:${this.o.port}) right now`);
    try {
      const doc = decodeJson(statusSchema, await s.request("status", encodeJson({}), 10_000), "status");
      return { ...doc, via: this.o.name };
    } catch (e) {
      if (e instanceof RemoteError) throw unavailable(`master refused status: ${e.message}`);
      throw e;
    }
  }
}
