import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Config } from "../core/config.ts";
import { usageError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Queue } from "../queue/types.ts";
import { StageRegistry } from "../stages/registry.ts";
import { statusSource } from "./client.ts";
import { serveControl } from "./control.ts";
import { loadKeyFile } from "./crypto.ts";
import { MasterStore } from "./store.ts";
import { checkNodeName, defaultNodeName, limitsFor, parseHostPort, parseSeconds, syncConfig } from "./config.ts";
import { SyncWorker, type RoundResult } from "./worker.ts";
import { collectRecord, openLedger } from "./worker-info.ts";

/** Flags and config merged into what the master and worker need; the commands stay thin. */
function need<T>(v: T | undefined, flag: string, key: string): T {
  if (v === undefined || v === "") throw usageError(`${flag} is required (or \`sync.${key}\` in the config)`);
  return v;
}

export interface MasterFlags {
  config: Config;
  log: Logger;
  listen?: string;
  dir?: string;
  keyFile?: string;
  name?: string;
  cluster?: string;
  exclude?: string[];
  keepalive?: string;
  dropAfter?: string;
  interval?: string;
}

export async function startMaster(f: MasterFlags): Promise<{ port: number; listen: string; dir: string; stop(): Promise<void> }> {
  const c = syncConfig(f.config);
  const { host, port } = parseHostPort(f.listen ?? c.listen, "--listen");
  const dir = resolve(need(f.dir ?? c.dir, "--dir", "dir"));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError(`--dir ${dir} is not a directory`);
  const key = loadKeyFile(need(f.keyFile ?? c.key_file, "--key-file", "key_file"));
  const keepaliveS = parseSeconds("--keepalive", f.keepalive) ?? c.keepalive_s;
  // Loaded here: a worker's start-up (every `--once` run) does not pay for the master's modules.
  const { SyncMaster } = await import("./master.ts");
  const master = new SyncMaster({
    host,
    port,
    dir,
    key,
    name: checkNodeName(f.name ?? "master"),
    cluster: checkNodeName(f.cluster ?? c.cluster, "--cluster"),
    exclude: [...c.exclude, ...(f.exclude ?? [])],
    keepaliveS,
    dropAfterS: parseSeconds("--drop-after", f.dropAfter) ?? Math.max(c.drop_after_s, keepaliveS * 2),
    intervalS: parseSeconds("--interval", f.interval) ?? c.interval_s,
    mismatchLimit: c.mismatch_limit,
    preAuthS: c.preauth_s,
    maxPreAuth: c.max_handshakes,
    maxPreAuthPerAddr: c.max_handshakes_per_address,
    limits: limitsFor(c),
    compress: c.compress,
    home: f.config.home,
    log: f.log,
    definitions: c.groups,
  });
  const control = await serveControl(f.config.home, "master", async (req) => {
    if (req.op === "groups_changed") {
      master.pushGroupsAll();
      return {};
    }
    return master.status();
  });
  let p: number;
  try {
    p = await master.start();
  } catch (e) {
    control.close();
    await master.stop();
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError(`cannot listen on ${host}:${port}${code ? ` (${code})` : ""}`);
  }
  const listen = `${host}:${p}`;
  f.log.info({ event: "master_started", listen, port: p, dir }, `sync master ${listen} serving ${dir}`);
  return {
    port: p,
    listen,
    dir,
    stop: async () => {
      control.close();
      await master.stop();
      f.log.info({ event: "master_stopped" }, "sync master stopped");
    },
  };
}

export interface WorkerFlags {
  config: Config;
  log: Logger;
  queue: () => Promise<Queue>;
  master?: string;
  dir?: string;
  keyFile?: string;
  name?: string;
  cluster?: string;
  reconnectMax?: string;
  recover?: boolean;
}

export async function makeWorker(f: WorkerFlags): Promise<SyncWorker> {
  const c = syncConfig(f.config);
  const { host, port } = parseHostPort(need(f.master ?? c.master, "--master", "master"), "--master");
  const dir = resolve(need(f.dir ?? c.dir, "--dir", "dir"));
  if (dir === "/") throw usageError("--dir / cannot be mirrored: give the worker a directory of its own");
  const key = loadKeyFile(need(f.keyFile ?? c.key_file, "--key-file", "key_file"));
  const registry = new StageRegistry();
  await registry.addPaths(f.config.stage_paths);
  return new SyncWorker({
    host,
    port,
    dir,
    key,
    name: checkNodeName(f.name ?? c.name ?? defaultNodeName()),
    cluster: checkNodeName(f.cluster ?? c.cluster, "--cluster"),
    home: f.config.home,
    log: f.log,
    limits: limitsFor(c),
    reconnectMaxS: parseSeconds("--reconnect-max", f.reconnectMax) ?? c.reconnect_max_s,
    handshakeS: c.preauth_s,
    record: () => collectRecord({ stages: registry.names(), counts: f.config.workers, queue: f.queue }),
    ledger: () => openLedger(f.config.home),
    recover: f.recover,
  });
}

/** Run until SIGINT/SIGTERM, reconnecting as needed; the control socket serves forwarded status. */
export async function runWorker(w: SyncWorker, home: string): Promise<void> {
  const control = await serveControl(home, "worker", async () => w.forwardStatus());
  const stop = () => w.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await w.run();
  } finally {
    control.close();
  }
}

/**
 * One connection, one integrity round and one info send: for cron, scripts and the benchmark. The
 * tree is walked while connecting, and the info goes up while the round runs.
 */
export async function runWorkerOnce(w: SyncWorker): Promise<RoundResult> {
  const pre = w.prescan();
  const s = await w.connect();
  const keepalive = w.keepAlive(s);
  try {
    const [r] = await Promise.all([w.round(s, pre), w.info(s)]);
    return r;
  } finally {
    clearInterval(keepalive);
    s.end("done");
  }
}

export function setGroups(home: string, node: string, groups: string[], allowUnknown = false): Record<string, string[]> {
  const store = MasterStore.open(home);
  try {
    // A typo would otherwise be stored silently and never reach any node.
    if (!allowUnknown && !store.knows(node))
      throw usageError(`node \`${node}\` has never connected to this master (falc sync status lists the nodes): --allow-unknown assigns groups to a node before it first joins`);
    store.setGroups(node, groups);
    return store.groups();
  } finally {
    store.close();
  }
}

export function listGroups(home: string): Record<string, string[]> {
  const store = MasterStore.open(home);
  try {
    return store.groups();
  } finally {
    store.close();
  }
}

/** Where the TUI's sync view gets its nodes: --sync/--key-file, else sync.master in the config, else this machine's node. */
export function syncSourceFor(config: Config, sync?: string, keyFile?: string) {
  const c = syncConfig(config);
  const addr = sync ?? c.master;
  if (!addr) return statusSource({ home: config.home });
  const kf = keyFile ?? c.key_file;
  if (!kf) {
    if (sync) throw usageError("--key-file is required with --sync (or `sync.key_file` in the config)");
    return statusSource({ home: config.home });
  }
  return statusSource({ home: config.home, remote: { ...parseHostPort(addr, "--sync"), key: loadKeyFile(kf), cluster: c.cluster } });
}

/** One line for a person about a `--once` round (the command prints it; --json prints the result itself). */
export function roundLine(r: RoundResult): string {
  if (!r.ok) return `sync failed, tree unchanged: ${r.error}`;
  if (r.inSync) return `in sync (${Math.round(r.durationMs)} ms, ${r.wireBytes} bytes on the wire)`;
  return `synced: ${r.missing} missing, ${r.shared} changed, ${r.extra} extra; ${r.files} files, ${r.bytes} bytes in ${Math.round(r.durationMs)} ms`;
}
