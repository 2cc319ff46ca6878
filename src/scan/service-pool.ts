import { join } from "node:path";
import { canonicalAddr as canon } from "./ip.ts";
import { runNmapPhase, type PhaseName, type PhaseOutcome } from "./phase.ts";
import { formatPorts, serviceArgv, type Profile } from "./profile.ts";

export interface ServiceRequest {
  ip: string;
  family: 4 | 6;
  ports: { tcp: number[]; udp: number[] };
  /** The target's own stop: it gets a cancelled outcome at once; the shared nmap goes on for the others. */
  signal: AbortSignal;
  onFraction?(fraction: number, note: string): void;
}

/** Runs the service scans of many targets (a local run); the runner asks it instead of starting its own nmap. */
export interface ServiceScans {
  request(r: ServiceRequest): Promise<PhaseOutcome>;
}

/** Targets one shared service nmap takes at most. */
export const SERVICE_GROUP_MAX = 256;

/**
 * Service scans that share one nmap when targets ask for the same ports. Each `nmap -sV` spends
 * ≈0.4 s of CPU loading its probe database before sending anything, and in a network many hosts
 * show the same services: `-p T:443 -- a b` probes exactly port 443 on each, as two runs would.
 * A group is open to every target asking for its ports until its nmap starts: `windowMs` after
 * its first request, and then for as long as it waits for a slot (`gate`), so when the slots are
 * taken (a dense network) the targets queued behind them share nmaps instead of each taking its
 * own. Each target still gets only its own host from the report.
 */
export function sharedServiceScans(o: { profile: Profile; workDir: string; nmapBin?: string; signal?: AbortSignal; gate?(phase: PhaseName): Promise<() => void>; windowMs?: number }): ServiceScans {
  interface Member { req: ServiceRequest; resolve(out: PhaseOutcome): void; settled: boolean }
  interface Group { family: 4 | 6; ports: ServiceRequest["ports"]; members: Member[]; timer?: ReturnType<typeof setTimeout>; started?: boolean }
  const forming = new Map<string, Group>();
  let n = 0;
  const settle = (m: Member, out: PhaseOutcome) => {
    if (m.settled) return;
    m.settled = true;
    m.resolve(out);
  };
  const start = async (key: string, g: Group) => {
    clearTimeout(g.timer);
    if (g.started) return;
    g.started = true;
    // Still open to new members while it waits for its slot.
    const release = o.gate ? await o.gate("service") : () => {};
    if (forming.get(key) === g) forming.delete(key);
    const members = g.members.filter((m) => !m.settled);
    if (!members.length) return release();
    // The shared nmap stops when the whole run stops, or when every member has gone.
    const ac = new AbortController();
    let gone = 0;
    for (const m of members) m.req.signal.addEventListener("abort", () => { if (++gone === members.length) ac.abort(); }, { once: true });
    const xml = join(o.workDir, `service-${n++}.xml`);
    const ips = members.map((m) => m.req.ip);
    const out = await runNmapPhase({
      name: "service",
      argv: serviceArgv(o.profile, ips, g.family, xml, g.ports),
      xml,
      timeoutS: o.profile.service_timeout_s,
      label: ips.length <= 3 ? ips.join(", ") : `${ips.length} targets (${ips[0]}, …)`,
      signal: o.signal ? AbortSignal.any([o.signal, ac.signal]) : ac.signal,
      nmapBin: o.nmapBin,
      gate: async () => release,
      onFraction: (f, note) => { for (const m of members) if (!m.settled) m.req.onFraction?.(f, note); },
    });
    for (const m of members) {
      const mine = canon(m.req.ip);
      settle(m, out.report ? { ...out, report: { ...out.report, hosts: out.report.hosts.filter((h) => canon(h.ip) === mine) } } : out);
    }
  };
  return {
    request(req) {
      return new Promise<PhaseOutcome>((resolve) => {
        const m: Member = { req, resolve, settled: false };
        const cancelled = (): PhaseOutcome => ({ rec: { phase: "service", status: "cancelled", ms: 0, argv: [] }, msg: `cancelled during service of ${req.ip}`, startedAt: Date.now(), endedAt: Date.now() });
        if (req.signal.aborted) return settle(m, cancelled());
        req.signal.addEventListener("abort", () => settle(m, cancelled()), { once: true });
        const key = `${req.family}|${formatPorts(req.ports.tcp)}|${formatPorts(req.ports.udp)}`;
        let g = forming.get(key);
        if (!g) {
          const fresh: Group = { family: req.family, ports: req.ports, members: [] };
          fresh.timer = setTimeout(() => void start(key, fresh), o.windowMs ?? 50);
          forming.set(key, (g = fresh));
        }
        g.members.push(m);
        // A full group takes no more: the next request opens a new one.
        if (g.members.length >= SERVICE_GROUP_MAX) {
          forming.delete(key);
          void start(key, g);
        }
      });
    },
  };
}
