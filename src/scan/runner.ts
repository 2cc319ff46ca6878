import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FalcError, workFailed } from "../core/errors.ts";
import { parseDiscoveredLine, runNmap } from "./nmap.ts";
import { runNmapPhase, type PhaseName, type PhaseOutcome, type PhaseRecord } from "./phase.ts";
import type { FirstLook } from "./first-look.ts";
import type { ServiceScans } from "./service-pool.ts";
import { discoveryArgv, likelyPortsArgv, serviceArgv, type Profile } from "./profile.ts";
import { mergeHosts, parseNmapXml, type ScanHost, type ScanPort } from "./xml.ts";

export type { PhaseName, PhaseRecord };

/**
 * How a target ended: `up` and `down` are answers (nmap saw it, or saw no reply); the others say
 * it was not scanned: `unreachable` (no route, no address, no permission), `timed_out`, `failed`,
 * `cancelled`.
 */
export type TargetStatus = "up" | "down" | "unreachable" | "timed_out" | "failed" | "cancelled";
export const SCANNED_STATUSES: readonly TargetStatus[] = ["up", "down"];

export interface TargetResult {
  ip: string;
  hostnames: string[];
  status: TargetStatus;
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
  /** Wait for a slot before each nmap run (discovery is CPU-bound, service mostly waits); returns the release. */
  gate?(phase: PhaseName): Promise<() => void>;
  /**
   * Ports announced within this many ms share one service scan. Each `nmap -sV` spends ≈0.4 s of
   * CPU loading its probe database, and the ports nmap tries first (its popular list) arrive together.
   */
  batchMs?: number;
  /** Runs the service scans instead (a local run shares nmaps between targets); default: this target's own. */
  services?: ServiceScans;
  /** A local run's shared first look at the likely ports; default: this target's own. */
  firstLook?: FirstLook | null;
}

/** Thrown when a scan was cancelled or failed; carries what was done so far. */
export class ScanStopped extends FalcError {
  constructor(message: string, readonly partial: TargetResult) {
    super("work_failed", message, { partial });
  }
}

/** Service scans one target may start while its discovery still runs. */
const EARLY_BATCHES = 4;

const isOpen = (p: ScanPort) => p.state === "open" || p.state === "open|filtered";
const portKey = (proto: string, port: number) => `${proto}/${port}`;

/**
 * Two phases for one target: open ports (`--open`), then `-sV` on exactly those ports. The phases
 * overlap: nmap announces each open port as it finds it (`-v`), and its service scan starts then,
 * so the slow service probes (≈6 s of waiting for a banner that never comes on HTTP or Redis)
 * run while discovery is still sweeping the rest. A long port list gets a first look at its
 * likely ports (likelyPortsArgv; shared by all targets of a local run) so those services start
 * at once; the full sweep follows unchanged. Only ports the full sweep's report has open are
 * kept. Each phase has its own timeout; a cancel stops every nmap of the target and reports
 * what was done.
 */
export async function scanTarget(target: { ip: string; family: 4 | 6; hostnames: string[] }, opts: RunTargetOptions): Promise<TargetResult> {
  const { profile } = opts;
  const res: TargetResult = { ip: target.ip, hostnames: target.hostnames, status: "up", hosts: [], phases: [], scanned: {}, startedAt: Date.now(), finishedAt: 0 };
  const stopWith = (rec: PhaseRecord, msg: string): never => {
    res.phases.push(rec);
    res.status = rec.status === "cancelled" ? "cancelled" : rec.status === "timeout" ? "timed_out" : /root privileges|not permitted|permission denied/i.test(msg) ? "unreachable" : "failed";
    res.error = msg;
    res.finishedAt = Date.now();
    throw new ScanStopped(msg, res);
  };
  // Stops service scans still running when the target stops for any reason.
  const halt = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, halt.signal]) : halt.signal;

  const runPhase = (name: PhaseName, argv: string[], timeoutS: number, xml: string, onFraction: (f: number, note: string) => void, onLine?: (l: string) => void, phaseTimeoutS?: number) =>
    runNmapPhase({ name, argv, xml, timeoutS, phaseTimeoutS, label: target.ip, signal, nmapBin: opts.nmapBin, gate: opts.gate, onFraction, onLine });

  // Progress: discovery 60 %, the service scans (however many) 40 %; never going backwards.
  let shown = 0, discF = 0, lookF = 0, looked = false;
  const svcF: number[] = [];
  const progress = (note: string) => {
    const s = svcF.length ? svcF.reduce((a, b) => a + b, 0) / svcF.length : 0;
    // A first look is a tenth of the discovery's work (5 000 of 65 535 ports).
    const d = looked ? 0.1 * lookF + 0.9 * discF : discF;
    shown = Math.max(shown, 0.6 * d + 0.4 * s);
    opts.onProgress?.(shown, note);
  };

  // Service scans, started in batches as open ports are announced.
  const safeIp = target.ip.replace(/:/g, "_");
  const serviceOn = profile.service.enabled;
  const requested = new Set<string>();
  let pending = { tcp: [] as number[], udp: [] as number[] };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const runs: Promise<PhaseOutcome>[] = [];
  const launch = () => {
    clearTimeout(timer);
    timer = undefined;
    const ports = pending;
    if (!ports.tcp.length && !ports.udp.length) return;
    pending = { tcp: [], udp: [] };
    const i = runs.length;
    const xml = join(opts.workDir, `service-${safeIp}-${i}.xml`);
    svcF[i] = 0;
    const onFraction = (f: number, note: string) => { svcF[i] = f; progress(`service${note ? `: ${note}` : ""}`); };
    const run = opts.services
      ? opts.services.request({ ip: target.ip, family: target.family, ports, signal, onFraction })
      : runPhase("service", serviceArgv(profile, target.ip, target.family, xml, ports), profile.service_timeout_s, xml, onFraction);
    // One failed service scan stops the others: the target's result is incomplete anyway.
    const failed = (e: unknown): PhaseOutcome => ({ rec: { phase: "service", status: "failed", ms: 0, argv: [], error: (e as Error).message }, msg: (e as Error).message, startedAt: Date.now(), endedAt: Date.now() });
    runs.push(run.catch(failed).then((o) => { svcF[i] = 1; if (o.rec.status !== "done") halt.abort(); return o; }));
  };
  const request = (proto: string, port: number) => {
    if (!serviceOn || (proto !== "tcp" && proto !== "udp") || requested.has(portKey(proto, port))) return;
    requested.add(portKey(proto, port));
    pending[proto].push(port);
    // A host that answers on thousands of ports (a tarpit, say) must not start thousands of nmaps:
    // after a few early batches the rest waits for the end of discovery and goes in one.
    if (runs.length < EARLY_BATCHES) timer ??= setTimeout(launch, opts.batchMs ?? 100);
  };
  const settleRuns = async () => {
    clearTimeout(timer);
    const all: PhaseOutcome[] = [];
    // A run may start while we wait (the last batch); keep waiting until none is left.
    for (let n = 0; n < runs.length; n = all.length) all.push(...(await Promise.all(runs.slice(n))));
    return all;
  };

  const announced = (line: string) => {
    const d = parseDiscoveredLine(line);
    if (d) request(d.proto, d.port);
  };
  const stopDiscovery = async (o: PhaseOutcome): Promise<never> => {
    halt.abort();
    await settleRuns();
    return stopWith(o.rec, o.msg!);
  };
  opts.onProgress?.(0, "discovery");
  // A long port list: the likely ports first (their services start at once), then the whole list.
  const xa = join(opts.workDir, `likely-${safeIp}.xml`);
  const onLook = (f: number) => { lookF = f; progress("discovery: likely ports"); };
  const shared = opts.firstLook?.watch(target.ip, (proto, port) => request(proto, port), onLook);
  const likelyArgv = shared ? null : likelyPortsArgv(profile, target.ip, target.family, xa);
  const x1 = join(opts.workDir, `discovery-${safeIp}.xml`);
  const sweep = (p: Profile, timeoutS: number) => runPhase("discovery", discoveryArgv(p, target.ip, target.family, x1), timeoutS, x1, (f, note) => { discF = f; progress(`discovery${note ? `: ${note}` : ""}`); }, announced, profile.discovery_timeout_s);
  const looked1 = (o: PhaseOutcome) => {
    lookF = 1;
    if (!o.report) return halt.abort();
    for (const p of o.report.hosts.flatMap((h) => h.ports.filter(isOpen))) request(p.proto, p.port);
    launch();
  };
  let first: PhaseOutcome | null = null;
  let p1: PhaseOutcome;
  if (shared) {
    // The run's sweep found the target up (its profile says -Pn now): the full sweep need not
    // wait for the shared look, and takes the other core while it runs.
    looked = true;
    const look = shared.then((o) => {
      looked1(o);
      return o;
    });
    [first, p1] = await Promise.all([look, sweep(profile, profile.discovery_timeout_s)]);
    // The shared look covers other targets too: its timeout or failure (one slow host among
    // them) is no verdict on this one, whose own full sweep is what counts. A cancel is.
    if (!first.report && first.rec.status === "cancelled") await stopDiscovery(first);
  } else if (likelyArgv) {
    looked = true;
    first = await runPhase("discovery", likelyArgv, profile.discovery_timeout_s, xa, onLook, announced);
    looked1(first);
    if (!first.report) await stopDiscovery(first);
    // Nmap found the host up: the full sweep need not ask again; found it down: that is the
    // answer. (With --open a host without open ports is not listed; runstats still counts it.)
    const up = first.report!.hostsUp;
    // The phase's timeout covers both looks.
    const left = Math.max(1, profile.discovery_timeout_s - Math.floor(first.rec.ms / 1000));
    p1 = up === 0 ? first : await sweep(up ? { ...profile, skip_host_discovery: true } : profile, left);
  } else p1 = await sweep(profile, profile.discovery_timeout_s);
  if (first && p1 !== first) p1.rec = { ...p1.rec, ms: Math.max(p1.endedAt, first.endedAt) - Math.min(p1.startedAt, first.startedAt), runs: [first.rec.argv, p1.rec.argv] };
  if (!p1.report) await stopDiscovery(p1);
  discF = 1;
  const report1 = p1.report!;
  res.scanned = { tcp: report1.scanned.tcp, udp: report1.scanned.udp };
  if (report1.skipped.length) {
    halt.abort();
    await settleRuns();
    res.phases.push({ ...p1.rec, status: "failed", error: p1.stderr ?? report1.skipped[0]!.reason });
    res.status = "unreachable";
    res.error = `nmap could not scan ${target.ip}: ${p1.stderr ?? `target skipped (${report1.skipped[0]!.reason})`}`;
    res.finishedAt = Date.now();
    return res;
  }
  const open1 = report1.hosts.flatMap((h) => h.ports.filter(isOpen));
  const open = {
    tcp: open1.filter((p) => p.proto === "tcp" && p.state === "open").map((p) => p.port),
    udp: open1.filter((p) => p.proto === "udp").map((p) => p.port),
  };
  const openKeys = new Set([...open.tcp.map((p) => portKey("tcp", p)), ...open.udp.map((p) => portKey("udp", p))]);
  p1.rec.open = openKeys.size;
  res.phases.push(p1.rec);
  // Up or down: nmap lists a host it saw; with `--open` one without open ports is left out of
  // the hosts but counted up in runstats (or known up when the sweep said so: -Pn).
  const listed = report1.hosts.filter((h) => h.status === "up");
  const up = listed.length > 0 || (report1.hostsUp ?? 0) > 0 || (first?.report?.hosts.some((h) => h.status === "up") ?? false);
  res.status = up ? "up" : "down";
  const base = listed.length ? listed : up ? [{ ip: target.ip, addrtype: (target.family === 6 ? "ipv6" : "ipv4") as ScanHost["addrtype"], status: "up", hostnames: [], ports: [] }] : [];
  res.hosts = base.map((h) => ({ ...h, hostnames: [...new Set([...target.hostnames, ...h.hostnames])], ports: h.ports.filter(isOpen) }));

  if (!serviceOn || openKeys.size === 0) {
    res.phases.push({ phase: "service", status: "skipped", ms: 0, argv: [] });
  } else {
    // The final report is the truth: scan what was open but not announced (open|filtered UDP, say).
    for (const p of open.tcp) request("tcp", p);
    for (const p of open.udp) request("udp", p);
    launch();
    const outs = await settleRuns();
    let hosts = res.hosts;
    for (const o of outs) if (o.report) hosts = mergeHosts(hosts, o.report.hosts);
    // Exactly phase 1's open ports, as phase 2 saw them.
    res.hosts = hosts.map((h) => ({ ...h, ports: h.ports.filter((p) => isOpen(p) && openKeys.has(portKey(p.proto, p.port))) }));
    const bad = outs.find((o) => o.rec.status === "cancelled" && opts.signal?.aborted) ?? outs.find((o) => o.rec.status !== "done" && o.rec.status !== "cancelled") ?? outs.find((o) => o.rec.status !== "done");
    const rec: PhaseRecord = {
      phase: "service",
      status: bad?.rec.status ?? "done",
      ms: Math.max(...outs.map((o) => o.endedAt)) - Math.min(...outs.map((o) => o.startedAt)),
      argv: outs[0]!.rec.argv,
      ...(outs.length > 1 ? { runs: outs.map((o) => o.rec.argv) } : {}),
      ...(bad?.rec.error ? { error: bad.rec.error } : {}),
    };
    if (bad) stopWith(rec, bad.msg!);
    res.phases.push(rec);
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
export async function discoverLive(targets: { ip: string; family: 4 | 6 }[], opts: { profile: Profile; workDir: string; signal?: AbortSignal; nmapBin?: string; onProgress?(fraction: number): void }): Promise<{ up: Set<string>; unreachable: Map<string, string>; timedOut: Set<string> }> {
  const up = new Set<string>();
  const timedOut = new Set<string>();
  // Targets nmap could not send to at all (no route): not down, never scanned.
  const unreachable = new Map<string, string>();
  for (const fam of [4, 6] as const) {
    const list = targets.filter((t) => t.family === fam).map((t) => t.ip);
    if (!list.length) continue;
    const file = join(opts.workDir, `sweep-${fam}.txt`);
    const xml = join(opts.workDir, `sweep-${fam}.xml`);
    await Bun.write(file, list.join("\n") + "\n");
    const argv = ["-oX", xml, "-sn", ...(fam === 6 ? ["-6"] : []), "-n", "--max-retries", "2", "--max-hostgroup", "256", "--stats-every", "1s", ...(opts.profile.min_rate ? ["--min-rate", String(opts.profile.min_rate)] : []), "-iL", file];
    const r = (await runNmap(argv, { bin: opts.nmapBin, timeoutS: opts.profile.discovery_timeout_s, signal: opts.signal, onProgress: (f) => opts.onProgress?.(f) })) as Awaited<ReturnType<typeof runNmap>> & { stopped?: string };
    if (r.stopped === "cancel") throw workFailed("cancelled during host discovery");
    if (r.stopped) {
      // Keep what the sweep found: nmap writes each finished host as it goes. The others were
      // not answered for: timed out, not down.
      let part = "";
      try {
        part = readFileSync(xml, "utf8");
      } catch {}
      for (const m of part.matchAll(/<host\b[^>]*>\s*<status state="up"[^>]*\/>\s*<address addr="([^"]+)"/g)) up.add(m[1]!);
      for (const ip of list) if (!up.has(ip)) timedOut.add(ip);
      continue;
    }
    if (r.code !== 0) throw workFailed(`nmap host discovery failed (exit ${r.code}): ${r.stderr.trim().split("\n").pop() ?? ""}`);
    const rep = parseNmapXml(readFileSync(xml, "utf8"), "nmap host discovery XML");
    for (const h of rep.hosts) if (h.status === "up") up.add(h.ip);
    const said = new Map([...r.stderr.matchAll(/^(.*?(?:failed to determine route to|No route to host|Operation not permitted).*?([0-9A-Fa-f.:]*[0-9A-Fa-f]))\s*$/gm)].map((m) => [m[2]!, m[1]!.trim()]));
    for (const sk of rep.skipped) unreachable.set(sk.spec, said.get(sk.spec) ?? `nmap skipped it (${sk.reason})`);
  }
  return { up, unreachable, timedOut };
}
