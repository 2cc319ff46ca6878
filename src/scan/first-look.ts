import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalAddr as canon } from "./ip.ts";
import { parseDiscoveredLine } from "./nmap.ts";
import { runNmapPhase, type PhaseName, type PhaseOutcome } from "./phase.ts";
import { firstLookArgv, type Profile } from "./profile.ts";

/** Shared looks at the likely ports of many targets, handed out per target. */
export interface FirstLook {
  /**
   * This target's open ports as nmap announces them (earlier ones are replayed) and the look's
   * progress, then the outcome holding only this target's host; null when the target is not part
   * of it. The first watch of a target starts the nmap that covers it.
   */
  watch(ip: string, onPort: (proto: string, port: number) => void, onFraction?: (f: number) => void): Promise<PhaseOutcome> | null;
}

/** Targets per first-look nmap: a /24 at a time keeps each well inside the discovery timeout. */
export const FIRST_LOOK_CHUNK = 256;

interface Watcher { onPort(proto: string, port: number): void; onFraction?(f: number): void }
interface Chunk { family: 4 | 6; ips: string[]; run?: Promise<PhaseOutcome> }

/**
 * A local run's first look at the likely ports (see likelyPortsArgv) of its live targets, one nmap
 * per FIRST_LOOK_CHUNK targets of a family: nmap probes the same port on every host at about the
 * same time, so hosts running the same services announce them together and share their service
 * scans, and no target waits behind another's full sweep to have its services found. Null for
 * UDP profiles (see firstLookArgv).
 */
export function startFirstLook(targets: { ip: string; family: 4 | 6 }[], o: { profile: Profile; workDir: string; nmapBin?: string; signal?: AbortSignal; gate?(phase: PhaseName): Promise<() => void>; chunk?: number }): FirstLook | null {
  if (!targets.length || !firstLookArgv(o.profile, [], 4, "")) return null;
  const byIp = new Map<string, { chunk: Chunk; ports: [string, number][]; watchers: Watcher[] }>();
  let n = 0;
  for (const fam of [4, 6] as const) {
    const ips = targets.filter((t) => t.family === fam).map((t) => t.ip);
    const size = o.chunk ?? FIRST_LOOK_CHUNK;
    for (let i = 0; i < ips.length; i += size) {
      const chunk: Chunk = { family: fam, ips: ips.slice(i, i + size) };
      for (const ip of chunk.ips) byIp.set(canon(ip), { chunk, ports: [], watchers: [] });
    }
  }
  const start = (chunk: Chunk): Promise<PhaseOutcome> => {
    const id = n++;
    const xml = join(o.workDir, `likely-${id}.xml`);
    // Our own target file (one validated address a line): argv stays short for any number of targets.
    const list = join(o.workDir, `likely-${id}.txt`);
    writeFileSync(list, chunk.ips.join("\n") + "\n");
    const argv = firstLookArgv(o.profile, [], chunk.family, xml)!;
    argv.splice(argv.indexOf("--"), 1, "-iL", list);
    const mine = chunk.ips.map((ip) => byIp.get(canon(ip))!);
    return runNmapPhase({
      name: "discovery",
      argv,
      xml,
      timeoutS: o.profile.discovery_timeout_s,
      label: chunk.ips.length === 1 ? chunk.ips[0]! : `${chunk.ips.length} targets (likely ports)`,
      signal: o.signal ?? new AbortController().signal,
      nmapBin: o.nmapBin,
      gate: o.gate,
      onFraction: (f) => { for (const t of mine) for (const w of t.watchers) w.onFraction?.(f); },
      onLine: (line) => {
        const d = parseDiscoveredLine(line);
        const t = d && byIp.get(canon(d.ip));
        if (!d || !t || t.chunk !== chunk) return;
        t.ports.push([d.proto, d.port]);
        for (const w of t.watchers) w.onPort(d.proto, d.port);
      },
    });
  };
  return {
    watch(ip, onPort, onFraction) {
      const t = byIp.get(canon(ip));
      if (!t) return null;
      for (const [proto, port] of t.ports) onPort(proto, port);
      t.watchers.push({ onPort, onFraction });
      t.chunk.run ??= start(t.chunk);
      const me = canon(ip);
      // Every host of the look was found up by the sweep (or is assumed up): -Pn.
      return t.chunk.run.then((out) => (out.report ? { ...out, report: { ...out.report, hosts: out.report.hosts.filter((h) => canon(h.ip) === me), hostsUp: o.profile.skip_host_discovery ? 1 : null } } : out));
    },
  };
}
