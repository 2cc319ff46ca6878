import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { FalcError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Queue } from "../queue/types.ts";
import { Ledger, type ImportMode, type ImportStats } from "./ledger.ts";
import { targetLockKey, withLock } from "./lock.ts";
import type { Profile } from "./profile.ts";
import { discoverLive, SCANNED_STATUSES, scanTarget, ScanStopped, type TargetResult } from "./runner.ts";
import { profilePortSet } from "./port-set.ts";
import { startFirstLook, type FirstLook } from "./first-look.ts";
import type { PhaseName } from "./phase.ts";
import { phaseGates } from "./nmap-gates.ts";
import { sharedServiceScans, type ServiceScans } from "./service-pool.ts";
import type { Target } from "./targets.ts";
import type { ScanHost, ScanInfo } from "./xml.ts";
import { parsePorts } from "./profile.ts";

export interface LocalScanOptions {
  targets: Target[];
  profile: Profile;
  project: string;
  mode: ImportMode;
  parallel: number;
  home: string;
  queue?: Queue;
  nmapBin?: string;
  lockTtlMs?: number;
  signal?: AbortSignal;
  log?: Logger;
  onProgress?(done: number, total: number, fraction: number, note: string): void;
  runId?: string;
  /** Most nmap processes at once, whatever their phase (scan.max_nmap). */
  maxNmap?: number;
}

export interface LocalScanSummary {
  runId: string;
  project: string;
  profile: string;
  /** finished: every target up or down; partial: some not scanned; failed: none scanned. */
  status: "finished" | "cancelled" | "failed" | "partial";
  hosts: ScanHost[];
  targets: { ip: string; status: string; error?: string; phases: TargetResult["phases"] }[];
  stats: ImportStats;
  ms: number;
}

export interface ScanOneOptions {
  profile: Profile; home: string; queue?: Queue; nmapBin?: string; lockTtlMs?: number; signal?: AbortSignal; workDir: string; owner: string;
  /** Wait for a target another holds (a queued task) instead of refusing it. */
  lockWait?: boolean;
  gate?(phase: PhaseName): Promise<() => void>; services?: ServiceScans; firstLook?: FirstLook | null; onProgress?(f: number, note: string): void;
}

/** Scan one target under its lock; a stop is a result (cancelled, timed_out, ...), never a throw. */
export async function scanOne(t: Target, o: ScanOneOptions): Promise<TargetResult> {
  let lost: AbortSignal | undefined;
  let r: TargetResult;
  try {
    r = await withLock(o.queue, targetLockKey(t.ip), o.owner, o.lockTtlMs ?? 60_000, { wait: o.lockWait ? o.signal ?? new AbortController().signal : undefined }, (l) => {
      lost = l;
      const signal = l ? (o.signal ? AbortSignal.any([o.signal, l]) : l) : o.signal;
      return scanTarget(t, { profile: o.profile, workDir: o.workDir, signal, nmapBin: o.nmapBin, onProgress: o.onProgress, gate: o.gate, services: o.services, firstLook: o.firstLook });
    });
  } catch (e) {
    if (!(e instanceof ScanStopped)) throw e;
    r = e.partial;
  }
  // Stopped because the lock went, not by the user: the target was not scanned, and says so.
  if (lost?.aborted && !o.signal?.aborted) return { ...r, status: "failed", error: (lost.reason as Error).message };
  return r;
}

/**
 * Write what a run scanned to the ledger, in one transaction: only targets that are up or down
 * (a target not scanned says nothing about its ports). `portSet` stands for the scanned ports of
 * a target the run's sweep found down.
 */
export function recordResults(ledger: Ledger, results: TargetResult[], o: { project: string; mode: ImportMode; runId: string; portSet?: TargetResult["scanned"] }): ImportStats {
  const scanned: Record<string, Partial<Record<string, string>>> = {};
  const hosts: ScanHost[] = [];
  for (const r of results) {
    if (!SCANNED_STATUSES.includes(r.status)) continue;
    const sc = r.scanned.tcp || r.scanned.udp ? r.scanned : o.portSet;
    if (sc) scanned[r.ip] = sc;
    hosts.push(...r.hosts);
  }
  return ledger.importHosts(o.project, hosts, o.mode, { runId: o.runId, scanned });
}

const stoppedResult = (t: Target, status: TargetResult["status"], error?: string): TargetResult => ({
  ip: t.ip, hostnames: t.hostnames, status, hosts: [], phases: [], scanned: {}, startedAt: Date.now(), finishedAt: Date.now(), ...(error ? { error } : {}),
});

/**
 * Run one task per target, `parallel` at a time, in this process. The ledger changes once, at the
 * end, in one transaction, and only with the targets that were scanned (up or down); a cancelled
 * run changes nothing but its own record.
 */
export async function runLocalScan(o: LocalScanOptions): Promise<LocalScanSummary> {
  const t0 = Date.now();
  const runId = o.runId ?? `scan-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${Math.random().toString(36).slice(2, 8)}`;
  withLedger(o.home, (l) => l.startRun({ id: runId, project: o.project, profile: o.profile.name, mode: o.mode, targets: o.targets.map((t) => t.ip) }));
  const workRoot = mkdtempSync(join(tmpdir(), "falc-scan-"));
  const results = new Map<string, TargetResult>();
  const fractions = new Map<string, number>();
  let done = 0;
  // Progress counts work: the host sweep is the first tenth (nmap's own figure), the live
  // targets' scans the rest; an address found down is no work and does not move the bar.
  let sweepF = 0;
  let live: Target[] | null = null;
  const report = (note: string) => {
    let sum = 0;
    for (const t of live ?? []) sum += fractions.get(t.ip) ?? 0;
    const scans = live ? (live.length ? sum / live.length : 1) : 0;
    const f = o.profile.skip_host_discovery ? scans : 0.1 * sweepF + 0.9 * scans;
    o.onProgress?.(done, o.targets.length, f, note);
  };
  const finish = (t: Target, r: TargetResult) => {
    results.set(t.ip, r);
    fractions.set(t.ip, 1);
    done++;
  };
  let portSet: TargetResult["scanned"] | undefined;
  try {
    let todo = o.targets;
    let profile = o.profile;
    if (!profile.skip_host_discovery && o.targets.length) {
      try {
        const { up, unreachable, timedOut } = await discoverLive(o.targets, {
          profile, workDir: workRoot, signal: o.signal, nmapBin: o.nmapBin, onProgress: (f) => { sweepF = f; report("host sweep"); },
        });
        sweepF = 1;
        todo = o.targets.filter((t) => up.has(t.ip));
        for (const t of o.targets) {
          const why = unreachable.get(t.ip);
          if (why) finish(t, stoppedResult(t, "unreachable", why));
          else if (timedOut.has(t.ip)) finish(t, stoppedResult(t, "timed_out", `host discovery timed out after ${profile.discovery_timeout_s}s`));
          else if (!up.has(t.ip)) finish(t, stoppedResult(t, "down"));
        }
        // Live hosts are known now: the per-target scans skip their own ping.
        profile = { ...profile, skip_host_discovery: true };
      } catch (e) {
        const status = o.signal?.aborted ? "cancelled" : /timed out/.test((e as Error).message) ? "timed_out" : "failed";
        for (const t of o.targets) finish(t, stoppedResult(t, status, (e as Error).message));
        todo = [];
      }
    }
    live = todo;
    if (o.mode === "replace" && todo.length < o.targets.length && !o.signal?.aborted && [...results.values()].some((r) => r.status === "down"))
      portSet = await profilePortSet(o.profile, { workDir: workRoot, nmapBin: o.nmapBin });
    // Discovery is CPU-bound (raw packets, one reply per port): at most one per core. Measured on
    // the lab (9 hosts, -p-, 2 cores): 2 at once 5 s and 8 CPU-s; 9 at once no faster and up to
    // 19 CPU-s. The first look (one nmap for every target's likely ports) takes a discovery slot
    // too. The service scans mostly wait on probes: 4× `parallel`.
    const gate = phaseGates({ discovery: Math.min(o.parallel, availableParallelism()), service: o.parallel * 4, any: o.maxNmap });
    // Targets announcing the same open ports together share one service nmap.
    const services = sharedServiceScans({ profile, workDir: workRoot, nmapBin: o.nmapBin, signal: o.signal, gate });
    // One nmap looks at every live target's likely ports first (long port lists only).
    const firstLook = startFirstLook(todo, { profile, workDir: workRoot, nmapBin: o.nmapBin, signal: o.signal, gate });
    let next = 0;
    const worker = async () => {
      while (next < todo.length && !o.signal?.aborted) {
        const t = todo[next++]!;
        let r: TargetResult;
        try {
          r = await scanOne(t, {
            ...o, profile, gate, services, firstLook, workDir: workRoot, owner: `local:${process.pid}:${runId}`,
            onProgress: (f, note) => { fractions.set(t.ip, f); report(`${t.ip} ${note}`); },
          });
        } catch (e) {
          r = stoppedResult(t, "failed", (e as Error).message);
        }
        if (!SCANNED_STATUSES.includes(r.status)) o.log?.warn({ target: t.ip, status: r.status, err: r.error }, "target not scanned");
        finish(t, r);
        report(t.ip);
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.parallel * 4, todo.length) }, worker));
  } finally {
    rmSync(workRoot, { recursive: true, force: true });
  }
  const per = o.targets.map((t) => results.get(t.ip) ?? stoppedResult(t, "cancelled", "the run was cancelled first"));
  const scanned = per.filter((r) => SCANNED_STATUSES.includes(r.status)).length;
  const status: LocalScanSummary["status"] = o.signal?.aborted ? "cancelled" : scanned === per.length ? "finished" : scanned === 0 ? "failed" : "partial";
  const hosts = per.flatMap((r) => r.hosts);
  const stats = withLedger(o.home, (l) =>
    l.db.transaction(() => {
      const s = status === "cancelled" ? { ...NO_STATS } : recordResults(l, per, { project: o.project, mode: o.mode, runId, portSet });
      l.finishRun(runId, status, status === "cancelled" ? [] : hosts, { args: `falc scan --profile ${o.profile.name} --mode ${o.mode}`, startedAt: t0, finishedAt: Date.now(), scanInfo: scanInfoOf(o.profile, per, portSet) });
      return s;
    }).immediate(),
  );
  return {
    runId, project: o.project, profile: o.profile.name, status, hosts, stats, ms: Date.now() - t0,
    targets: per.map((r) => ({ ip: r.ip, status: r.status, ...(r.error ? { error: r.error } : {}), phases: r.phases })),
  };
}

/** The run's <scaninfo>: the ports its sweeps scanned (as nmap listed them), per protocol. */
function scanInfoOf(p: Profile, results: TargetResult[], portSet?: TargetResult["scanned"]): ScanInfo[] {
  const sc = results.find((r) => r.scanned.tcp || r.scanned.udp)?.scanned ?? portSet ?? {};
  const tcpType = p.tcp_scan === "auto" ? (process.getuid?.() === 0 ? "syn" : "connect") : p.tcp_scan;
  return (["tcp", "udp"] as const).flatMap((proto) => {
    const services = sc[proto];
    return services ? [{ type: proto === "udp" ? "udp" : tcpType, protocol: proto, numservices: parsePorts(services)?.length ?? 0, services }] : [];
  });
}

const NO_STATS: ImportStats = { hostsAdded: 0, hostsSkipped: 0, portsAdded: 0, portsUpdated: 0, portsClosed: 0 };

/** Open the ledger for one job and close it after, whatever happens. */
export function withLedger<T>(home: string, fn: (l: Ledger) => T): T {
  const l = Ledger.open(home);
  try {
    return fn(l);
  } finally {
    l.close();
  }
}

export { FalcError };
