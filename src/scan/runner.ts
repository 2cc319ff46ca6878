import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FalcError, workFailed } from "../core/errors.ts";
import { runNmap } from "./nmap.ts";
import { discoveryArgv, serviceArgv, type Profile } from "./profile.ts";
import { mergeHosts, parseNmapXml, type ScanHost } from "./xml.ts";

export type PhaseName = "discovery" | "service";

export interface PhaseRecord {
  phase: PhaseName;
  status: "done" | "skipped" | "cancelled" | "timeout" | "failed";
  ms: number;
  argv: string[];
  open?: number;
  error?: string;
}

export interface TargetResult {
  ip: string;
  hostnames: string[];
  status: "finished" | "cancelled" | "failed";
  hosts: ScanHost[];
  phases: PhaseRecord[];
  /** Ports phase 1 was asked to scan ("1-65535", "top 1000"), for replace-mode imports. */
  scanned: { tcp?: string; udp?: string };
  startedAt: number;
  finishedAt: number;
  error?: string;
}

export interface RunTargetOptions {
  profile: Profile;
  workDir: string;
  signal?: AbortSignal;
  nmapBin?: string;
  /** Overall fraction 0..1 and a note; phase 1 counts for 60 %, phase 2 for 40 %. */
  onProgress?(fraction: number, note: string): void;
  /** Wait for a slot before each phase (discovery is CPU-bound, service mostly waits); returns the release. */
  gate?(phase: PhaseName): Promise<() => void>;
}

/** Thrown when a scan was cancelled or failed; carries what was done so far. */
export class ScanStopped extends FalcError {
  constructor(message: string, readonly partial: TargetResult) {
    super("work_failed", message, { partial });
  }
}

/**
 * Two phases for one target: open ports (fast, `--open`), then `-sV` on exactly those ports.
 * Each phase has its own timeout; a cancel stops nmap's process group and reports what was done.
 */
export async function scanTarget(target: { ip: string; family: 4 | 6; hostnames: string[] }, opts: RunTargetOptions): Promise<TargetResult> {
  const { profile } = opts;
  const res: TargetResult = { ip: target.ip, hostnames: target.hostnames, status: "finished", hosts: [], phases: [], scanned: {}, startedAt: Date.now(), finishedAt: 0 };
  const stopWith = (rec: PhaseRecord, msg: string): never => {
    res.phases.push(rec);
    res.status = rec.status === "cancelled" ? "cancelled" : "failed";
    res.error = msg;
    res.finishedAt = Date.now();
    throw new ScanStopped(msg, res);
  };
  const phase = async (name: PhaseName, argv: string[], timeoutS: number, xml: string, base: number, span: number) => {
    const release = opts.gate ? await opts.gate(name) : () => {};
    const r = (await runNmap(argv, {
      bin: opts.nmapBin,
      timeoutS,
      signal: opts.signal,
      onProgress: (f, note) => opts.onProgress?.(base + f * span, `${name}${note ? `: ${note}` : ""}`),
    }).finally(release)) as Awaited<ReturnType<typeof runNmap>> & { stopped?: "timeout" | "cancel" };
    const rec: PhaseRecord = { phase: name, status: "done", ms: r.ms, argv };
    if (r.stopped === "cancel") stopWith({ ...rec, status: "cancelled" }, `cancelled during ${name} of ${target.ip}`);
    if (r.stopped === "timeout") stopWith({ ...rec, status: "timeout" }, `${name} of ${target.ip} timed out after ${timeoutS}s`);
    if (r.code !== 0 || !existsSync(xml)) {
      const line = (r.stderr.trim().split("\n").pop() ?? "").slice(0, 300);
      stopWith({ ...rec, status: "failed", error: line }, `nmap ${name} of ${target.ip} failed (exit ${r.code})${line ? `: ${line}` : ""}`);
    }
    let report;
    try {
      report = parseNmapXml(readFileSync(xml, "utf8"), `nmap ${name} XML`);
    } catch (e) {
      stopWith({ ...rec, status: "failed", error: (e as Error).message }, (e as Error).message);
    }
    return { rec, report: report! };
  };

  const x1 = join(opts.workDir, `discovery-${target.ip.replace(/:/g, "_")}.xml`);
  opts.onProgress?.(0, "discovery");
  const p1 = await phase("discovery", discoveryArgv(profile, target.ip, target.family, x1), profile.discovery_timeout_s, x1, 0, 0.6);
  res.scanned = { tcp: p1.report.scanned.tcp, udp: p1.report.scanned.udp };
  const open1 = p1.report.hosts.flatMap((h) => h.ports.filter((p) => p.state === "open" || p.state === "open|filtered"));
  const open = {
    tcp: open1.filter((p) => p.proto === "tcp" && p.state === "open").map((p) => p.port),
    udp: open1.filter((p) => p.proto === "udp").map((p) => p.port),
  };
  p1.rec.open = open.tcp.length + open.udp.length;
  res.phases.push(p1.rec);
  // Only hosts with open ports are kept: the ledger stores actionable results.
  const hosts1 = p1.report.hosts.map((h) => ({ ...h, hostnames: [...new Set([...target.hostnames, ...h.hostnames])], ports: h.ports.filter((p) => p.state === "open" || p.state === "open|filtered") }));
  res.hosts = hosts1.filter((h) => h.ports.length);

  if (!profile.service.enabled || open.tcp.length + open.udp.length === 0) {
    res.phases.push({ phase: "service", status: "skipped", ms: 0, argv: [] });
  } else {
    const x2 = join(opts.workDir, `service-${target.ip.replace(/:/g, "_")}.xml`);
    const p2 = await phase("service", serviceArgv(profile, target.ip, target.family, x2, open), profile.service_timeout_s, x2, 0.6, 0.4);
    res.phases.push(p2.rec);
    res.hosts = mergeHosts(res.hosts, p2.report.hosts).map((h) => ({ ...h, ports: h.ports.filter((p) => p.state === "open" || p.state === "open|filtered") }));
  }
  opts.onProgress?.(1, "done");
  res.finishedAt = Date.now();
  return res;
}

export { workFailed };

/**
 * Host discovery for a whole target set in one nmap (`-sn`), so a sparse /24 does not cost one
 * slow per-address scan each. Targets go through a file we write (`-iL` of our own file only).
 */
export async function discoverLive(targets: { ip: string; family: 4 | 6 }[], opts: { profile: Profile; workDir: string; signal?: AbortSignal; nmapBin?: string }): Promise<Set<string>> {
  const up = new Set<string>();
  for (const fam of [4, 6] as const) {
    const list = targets.filter((t) => t.family === fam).map((t) => t.ip);
    if (!list.length) continue;
    const file = join(opts.workDir, `sweep-${fam}.txt`);
    const xml = join(opts.workDir, `sweep-${fam}.xml`);
    await Bun.write(file, list.join("\n") + "\n");
    const argv = ["-oX", xml, "-sn", ...(fam === 6 ? ["-6"] : []), "-n", "--max-retries", "2", ...(opts.profile.min_rate ? ["--min-rate", String(opts.profile.min_rate)] : []), "-iL", file];
    const r = (await runNmap(argv, { bin: opts.nmapBin, timeoutS: opts.profile.discovery_timeout_s, signal: opts.signal })) as Awaited<ReturnType<typeof runNmap>> & { stopped?: string };
    if (r.stopped === "cancel") throw workFailed("cancelled during host discovery");
    if (r.stopped) throw workFailed(`host discovery timed out after ${opts.profile.discovery_timeout_s}s`);
    if (r.code !== 0) throw workFailed(`nmap host discovery failed (exit ${r.code}): ${r.stderr.trim().split("\n").pop() ?? ""}`);
    for (const h of parseNmapXml(readFileSync(xml, "utf8"), "nmap host discovery XML").hosts) if (h.status === "up") up.add(h.ip);
  }
  return up;
}
