import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { FalcError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Queue } from "../queue/types.ts";
import { Ledger, type ImportMode, type ImportStats } from "./ledger.ts";
import { targetLockKey, withLock } from "./lock.ts";
import type { Profile } from "./profile.ts";
import { discoverLive, scanTarget, ScanStopped, type TargetResult } from "./runner.ts";
import { startFirstLook, type FirstLook } from "./first-look.ts";
import type { PhaseName } from "./phase.ts";
import { sharedServiceScans, type ServiceScans } from "./service-pool.ts";
import type { Target } from "./targets.ts";
import type { ScanHost } from "./xml.ts";

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
}

export interface LocalScanSummary {
  runId: string;
  project: string;
  profile: string;
  status: "finished" | "cancelled" | "failed" | "partial";
  hosts: ScanHost[];
  targets: { ip: string; status: string; error?: string; phases: TargetResult["phases"] }[];
  stats: ImportStats;
  ms: number;
}

export function portsKey(p: Profile): string {
  return `${p.tcp_scan === "none" ? "" : "T"}${p.udp ? "U" : ""}:${p.ports ?? `top${p.top_ports ?? 1000}`}`;
}

/** Scan one target under its lock and write the result to the ledger. Used by the CLI and the stage. */
/** A counting semaphore. */
export function semaphore(n: number): () => Promise<() => void> {
  let free = n;
  const waiting: (() => void)[] = [];
  return () =>
    new Promise((res) => {
      const grant = () => {
        free--;
        let done = false;
        res(() => {
          if (done) return;
          done = true;
          free++;
          waiting.shift()?.();
        });
      };
      if (free > 0) grant();
      else waiting.push(grant);
    });
}

export async function scanOne(t: Target, o: { profile: Profile; project: string; mode: ImportMode; home: string; queue?: Queue; nmapBin?: string; lockTtlMs?: number; signal?: AbortSignal; workDir: string; owner: string; runId: string; recordRun?: boolean; gate?(phase: PhaseName): Promise<() => void>; services?: ServiceScans; firstLook?: FirstLook | null; onProgress?(f: number, note: string): void }): Promise<{ result: TargetResult; stats: ImportStats }> {
  const save = (result: TargetResult, complete: boolean): ImportStats => {
    const ledger = Ledger.open(o.home);
    try {
      // A stopped scan keeps what it found (phase-1 open ports), but never closes ports it did not finish looking at.
      const mode: ImportMode = complete ? o.mode : o.mode === "replace" ? "update" : o.mode;
      const stats = ledger.importHosts(o.project, result.hosts, mode, { runId: o.runId, scanned: { [t.ip]: result.scanned } });
      if (o.recordRun) ledger.appendToRun({ id: o.runId, project: o.project, profile: o.profile.name, mode: o.mode, target: t.ip, status: result.status, hosts: result.hosts });
      return stats;
    } finally {
      ledger.close();
    }
  };
  let result: TargetResult;
  try {
    result = await withLock(o.queue, targetLockKey(t.ip, portsKey(o.profile)), o.owner, o.lockTtlMs ?? 60_000, () =>
      scanTarget(t, { profile: o.profile, workDir: o.workDir, signal: o.signal, nmapBin: o.nmapBin, onProgress: o.onProgress, gate: o.gate, services: o.services, firstLook: o.firstLook }),
    );
  } catch (e) {
    if (e instanceof ScanStopped) save(e.partial, false);
    throw e;
  }
  return { result, stats: save(result, true) };
}

/** Run one task per target, `parallel` at a time, in this process. */
export async function runLocalScan(o: LocalScanOptions): Promise<LocalScanSummary> {
  const t0 = Date.now();
  const runId = o.runId ?? `scan-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${Math.random().toString(36).slice(2, 8)}`;
  const ledger = Ledger.open(o.home);
  ledger.startRun({ id: runId, project: o.project, profile: o.profile.name, mode: o.mode, targets: o.targets.map((t) => t.ip) });
  ledger.close();
  const workRoot = mkdtempSync(join(tmpdir(), "falc-scan-"));
  const stats: ImportStats = { hostsAdded: 0, hostsSkipped: 0, portsAdded: 0, portsUpdated: 0, portsClosed: 0 };
  const hosts: ScanHost[] = [];
  const per: LocalScanSummary["targets"] = [];
  const fractions = new Map<string, number>();
  let done = 0;
  const report = (note: string) => {
    const sum = [...fractions.values()].reduce((a, b) => a + b, 0);
    o.onProgress?.(done, o.targets.length, o.targets.length ? sum / o.targets.length : 1, note);
  };
  let todo = o.targets;
  let profile = o.profile;
  if (!profile.skip_host_discovery && o.targets.length) {
    try {
      const up = await discoverLive(o.targets, { profile, workDir: workRoot, signal: o.signal, nmapBin: o.nmapBin });
      todo = o.targets.filter((t) => up.has(t.ip));
      for (const t of o.targets) if (!up.has(t.ip)) { per.push({ ip: t.ip, status: "down", phases: [] }); fractions.set(t.ip, 1); done++; }
      // Live hosts are known now: the per-target scans skip their own ping.
      profile = { ...profile, skip_host_discovery: true };
    } catch (e) {
      rmSync(workRoot, { recursive: true, force: true });
      throw e;
    }
  }
  // Discovery is CPU-bound (raw packets, one reply per port): at most one per core. Measured on
  // the lab (9 hosts, -p-, 2 cores): 2 at once 5 s and 8 CPU-s; 9 at once no faster and up to
  // 19 CPU-s. The first look (one nmap for every target's likely ports) takes a discovery slot
  // too. The service scans mostly wait on probes: 4× `parallel`.
  const discoveryGate = semaphore(Math.max(1, Math.min(o.parallel, availableParallelism())));
  const serviceGate = semaphore(o.parallel * 4);
  const gate = (phase: PhaseName) => (phase === "discovery" ? discoveryGate() : serviceGate());
  // Targets announcing the same open ports together share one service nmap.
  const services = sharedServiceScans({ profile, workDir: workRoot, nmapBin: o.nmapBin, signal: o.signal, gate });
  // One nmap looks at every live target's likely ports first (long port lists only).
  const firstLook = startFirstLook(todo, { profile, workDir: workRoot, nmapBin: o.nmapBin, signal: o.signal, gate });
  let next = 0;
  const worker = async () => {
    while (next < todo.length && !o.signal?.aborted) {
      const t = todo[next++]!;
      try {
        const { result, stats: s } = await scanOne(t, {
          ...o, profile, gate, services, firstLook, workDir: workRoot, owner: `local:${process.pid}:${runId}`, runId,
          onProgress: (f, note) => { fractions.set(t.ip, f); report(`${t.ip} ${note}`); },
        });
        for (const k of Object.keys(stats) as (keyof ImportStats)[]) stats[k] += s[k];
        hosts.push(...result.hosts);
        per.push({ ip: t.ip, status: result.status, phases: result.phases });
      } catch (e) {
        const partial = e instanceof ScanStopped ? e.partial : null;
        if (partial?.hosts.length) hosts.push(...partial.hosts);
        per.push({ ip: t.ip, status: partial?.status ?? "failed", error: (e as Error).message, phases: partial?.phases ?? [] });
        o.log?.warn({ target: t.ip, err: (e as Error).message }, "target failed");
      }
      fractions.set(t.ip, 1);
      done++;
      report(t.ip);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.parallel * 4, todo.length) }, worker));
  } finally {
    rmSync(workRoot, { recursive: true, force: true });
  }
  for (const t of o.targets) if (!per.some((p) => p.ip === t.ip)) per.push({ ip: t.ip, status: "cancelled", phases: [] });
  const failed = per.filter((p) => p.status !== "finished" && p.status !== "down");
  const status: LocalScanSummary["status"] = o.signal?.aborted ? "cancelled" : failed.length === 0 ? "finished" : failed.length === per.length ? "failed" : "partial";
  const l2 = Ledger.open(o.home);
  l2.finishRun(runId, status, hosts);
  l2.close();
  return { runId, project: o.project, profile: o.profile.name, status, hosts, targets: per, stats, ms: Date.now() - t0 };
}

export { FalcError };
