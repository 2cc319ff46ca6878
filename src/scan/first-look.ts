import { join } from "node:path";
import { formatAddr, parseAddr } from "./ip.ts";
import { parseDiscoveredLine } from "./nmap.ts";
import { runNmapPhase, type PhaseName, type PhaseOutcome } from "./phase.ts";
import { likelyPortsArgv, type Profile } from "./profile.ts";

/** One nmap's look at the likely ports of many targets, handed out per target. */
export interface FirstLook {
  /**
   * This target's open ports as nmap announces them (earlier ones are replayed), then the run's
   * outcome holding only this target's host; null when the target is not part of the look.
   */
  watch(ip: string, onPort: (proto: string, port: number) => void): Promise<PhaseOutcome> | null;
}

const canon = (ip: string) => {
  const a = parseAddr(ip);
  return a ? formatAddr(a) : ip;
};

/**
 * A local run's first look at the likely ports (see likelyPortsArgv) of all its live targets in
 * one nmap per address family: nmap probes the same port on every host at about the same time,
 * so hosts running the same services announce them together and share their service scans, and
 * no target waits behind another's full sweep to have its services found. Null when the
 * profile's port list is short (there is no first look then).
 */
export function startFirstLook(targets: { ip: string; family: 4 | 6 }[], o: { profile: Profile; workDir: string; nmapBin?: string; signal?: AbortSignal; gate?(phase: PhaseName): Promise<() => void> }): FirstLook | null {
  if (!targets.length || !likelyPortsArgv(o.profile, "0.0.0.0", 4, "x")) return null;
  const seen = new Map<string, { ports: [string, number][]; listeners: ((proto: string, port: number) => void)[] }>();
  const runs = new Map<4 | 6, Promise<PhaseOutcome>>();
  for (const fam of [4, 6] as const) {
    const ips = targets.filter((t) => t.family === fam).map((t) => t.ip);
    if (!ips.length) continue;
    for (const ip of ips) seen.set(canon(ip), { ports: [], listeners: [] });
    const xml = join(o.workDir, `likely-${fam}.xml`);
    runs.set(fam, runNmapPhase({
      name: "discovery",
      argv: likelyPortsArgv(o.profile, ips, fam, xml)!,
      xml,
      timeoutS: o.profile.discovery_timeout_s,
      label: ips.length === 1 ? ips[0]! : `${ips.length} targets (likely ports)`,
      signal: o.signal ?? new AbortController().signal,
      nmapBin: o.nmapBin,
      gate: o.gate,
      onLine: (line) => {
        const d = parseDiscoveredLine(line);
        const s = d && seen.get(canon(d.ip));
        if (!d || !s) return;
        s.ports.push([d.proto, d.port]);
        for (const l of s.listeners) l(d.proto, d.port);
      },
    }));
  }
  return {
    watch(ip, onPort) {
      const s = seen.get(canon(ip));
      const run = runs.get(ip.includes(":") ? 6 : 4);
      if (!s || !run) return null;
      for (const [proto, port] of s.ports) onPort(proto, port);
      s.listeners.push(onPort);
      const mine = canon(ip);
      return run.then((out) => (out.report ? { ...out, report: { ...out.report, hosts: out.report.hosts.filter((h) => canon(h.ip) === mine), hostsUp: o.profile.skip_host_discovery ? 1 : null } } : out));
    },
  };
}
