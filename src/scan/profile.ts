import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { inputError } from "../core/errors.ts";

/** A port list: "22,80,8000-8100". Checked to be ports 1-65535 with start <= end. */
const portList = z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.string()).refine((s) => parsePorts(s) !== null, { message: "must be ports like 22,80,8000-8100 (1-65535)" });

/**
 * A typed scan profile. Every field maps to a known nmap option; unknown keys are refused
 * by name, so raw nmap flags can never get in.
 */
export const profileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/).optional(),
    description: z.string().max(200).optional(),
    /** Ports for phase 1; exclusive with top_ports. */
    ports: portList.optional(),
    top_ports: z.number().int().min(1).max(65535).optional(),
    min_rate: z.number().int().min(1).max(1_000_000).optional(),
    max_rate: z.number().int().min(1).max(1_000_000).optional(),
    max_retries: z.number().int().min(0).max(50).optional(),
    initial_rtt_timeout_ms: z.number().int().min(1).max(60_000).optional(),
    min_rtt_timeout_ms: z.number().int().min(1).max(60_000).optional(),
    max_rtt_timeout_ms: z.number().int().min(1).max(60_000).optional(),
    /** never (-n), always (-R), or nmap's default. */
    dns: z.enum(["never", "always", "default"]).default("never"),
    /** -Pn: treat every target as up. When false, a local run first sweeps all targets with one `nmap -sn` and scans only live hosts. */
    skip_host_discovery: z.boolean().default(false),
    /** syn (-sS, needs root), connect (-sT), auto = syn as root else connect. */
    tcp_scan: z.enum(["syn", "connect", "auto", "none"]).default("auto"),
    udp: z.boolean().default(false),
    service: z
      .object({
        enabled: z.boolean().default(true),
        version_intensity: z.number().int().min(0).max(9).default(7),
        default_scripts: z.boolean().default(false),
        os_detection: z.boolean().default(false),
        traceroute: z.boolean().default(false),
      })
      .strict()
      .default({ enabled: true, version_intensity: 7, default_scripts: false, os_detection: false, traceroute: false }),
    /** Seconds each phase may run before nmap is stopped. */
    discovery_timeout_s: z.number().int().min(1).max(7 * 86400).default(600),
    service_timeout_s: z.number().int().min(1).max(7 * 86400).default(900),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.ports && p.top_ports) ctx.addIssue({ code: "custom", path: ["ports"], message: "give ports or top_ports, not both" });
    if (p.min_rate && p.max_rate && p.min_rate > p.max_rate) ctx.addIssue({ code: "custom", path: ["min_rate"], message: "must not exceed max_rate" });
    if (p.min_rtt_timeout_ms && p.max_rtt_timeout_ms && p.min_rtt_timeout_ms > p.max_rtt_timeout_ms)
      ctx.addIssue({ code: "custom", path: ["min_rtt_timeout_ms"], message: "must not exceed max_rtt_timeout_ms" });
    if (p.tcp_scan === "none" && !p.udp) ctx.addIssue({ code: "custom", path: ["tcp_scan"], message: "none needs udp: true" });
  });

export type Profile = z.infer<typeof profileSchema> & { name: string };
export type ProfileInput = z.input<typeof profileSchema>;

const builtins: Record<string, ProfileInput> = {
  default: { description: "top 1000 TCP ports, then services", top_ports: 1000, min_rate: 500, max_retries: 2 },
  fast: { description: "top 100 TCP ports, quick service probes", top_ports: 100, min_rate: 1000, max_retries: 1, service: { version_intensity: 2 } },
  full: { description: "all 65535 TCP ports, then services", ports: "1-65535", min_rate: 2000, max_retries: 1 },
  web: { description: "common web ports with default scripts", ports: "80,443,591,593,3000,4443,5000,8000-8100,8443,8888,9000,9443", service: { default_scripts: true } },
  udp: { description: "top 100 UDP ports", top_ports: 100, tcp_scan: "none", udp: true, max_retries: 1 },
};

export const BUILTIN_PROFILES = Object.keys(builtins);

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `\`${[...issue.path, k].join(".")}\``).join(", ")} (raw nmap options are not accepted)`;
  return `field \`${issue.path.join(".") || "(top level)"}\`: ${issue.message}`;
}

export function validateProfile(raw: unknown, name: string, source: string): Profile {
  const r = profileSchema.safeParse(raw ?? {});
  if (!r.success) throw inputError(`profile ${source}: ${describe(r.error.issues[0]!)}`);
  return { ...r.data, name: r.data.name ?? name };
}

/** A built-in name, or a YAML file path. */
export function loadProfile(nameOrPath: string): Profile {
  const b = builtins[nameOrPath];
  if (b) return validateProfile(b, nameOrPath, nameOrPath);
  if (!/\.ya?ml$/.test(nameOrPath)) throw inputError(`unknown profile \`${nameOrPath}\` (built-in: ${BUILTIN_PROFILES.join(", ")}; or a .yaml file)`);
  if (!existsSync(nameOrPath)) throw inputError(`profile file ${nameOrPath} not found`);
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(nameOrPath, "utf8"));
  } catch (e) {
    throw inputError(`profile ${nameOrPath}: invalid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc !== null && (typeof doc !== "object" || Array.isArray(doc))) throw inputError(`profile ${nameOrPath}: must be a mapping of fields`);
  const base = nameOrPath.replace(/^.*\//, "").replace(/\.ya?ml$/, "").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
  return validateProfile(doc, base, nameOrPath);
}

/** "22,80,8000-8100" → sorted unique ports, or null if malformed. */
export function parsePorts(s: string): number[] | null {
  const out = new Set<number>();
  for (const part of s.split(",")) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part.trim());
    if (!m) return null;
    const a = Number(m[1]), b = m[2] ? Number(m[2]) : a;
    if (a < 1 || b > 65535 || a > b) return null;
    for (let p = a; p <= b; p++) out.add(p);
  }
  return out.size ? [...out].sort((x, y) => x - y) : null;
}

/** Compact list: [22,80,81,82] → "22,80-82". */
export function formatPorts(ports: number[]): string {
  const s = [...new Set(ports)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

function common(p: Profile, family: 4 | 6): string[] {
  const a: string[] = [];
  if (family === 6) a.push("-6");
  if (p.dns === "never") a.push("-n");
  else if (p.dns === "always") a.push("-R");
  if (p.skip_host_discovery) a.push("-Pn");
  if (p.min_rate) a.push("--min-rate", String(p.min_rate));
  if (p.max_rate) a.push("--max-rate", String(p.max_rate));
  if (p.max_retries !== undefined) a.push("--max-retries", String(p.max_retries));
  if (p.initial_rtt_timeout_ms) a.push("--initial-rtt-timeout", `${p.initial_rtt_timeout_ms}ms`);
  if (p.min_rtt_timeout_ms) a.push("--min-rtt-timeout", `${p.min_rtt_timeout_ms}ms`);
  if (p.max_rtt_timeout_ms) a.push("--max-rtt-timeout", `${p.max_rtt_timeout_ms}ms`);
  return a;
}

function scanTypes(p: Profile): string[] {
  const a: string[] = [];
  const tcp = p.tcp_scan === "auto" ? (isRoot() ? "syn" : "connect") : p.tcp_scan;
  if (tcp === "syn") a.push("-sS");
  else if (tcp === "connect") a.push("-sT");
  if (p.udp) a.push("-sU");
  return a;
}

/**
 * Phase 1 argv (after the nmap binary): find open ports. The target is a validated address.
 * `-v` only adds output: nmap announces each open port as it finds it, so the runner can start
 * that port's service scan while discovery goes on.
 */
export function discoveryArgv(p: Profile, ip: string | string[], family: 4 | 6, xmlPath: string): string[] {
  const a = ["-oX", xmlPath, "--stats-every", "1s", "-v", "--open", ...common(p, family), ...scanTypes(p)];
  if (p.ports) a.push("-p", p.ports);
  else a.push("--top-ports", String(p.top_ports ?? 1000));
  a.push("--", ...(Array.isArray(ip) ? ip : [ip]));
  return a;
}

/**
 * A long port list is first swept for the ports nmap-services has most often seen open (4 257 TCP
 * ports have a non-zero ratio there; the top 5 000 hold nearly all of it). They are where the
 * services are, and finding them early lets their slow service probes overlap the long sweep of
 * the rest. The full sweep follows unchanged and is what counts.
 */
export const LIKELY_PORTS = 5000;

/** Whether the profile's TCP port list is long enough for a look at its likely ports first. */
export function hasLikelyPorts(p: Profile): boolean {
  if (!p.ports || p.udp) return false;
  return (parsePorts(p.ports)?.length ?? 0) > 2 * LIKELY_PORTS;
}

/**
 * Phase 1's first look (the profile's ports, LIKELY_PORTS most common only) at one or more targets;
 * null when the list is short anyway, or for UDP, whose pace is set by the targets' ICMP rate limits
 * (probing thousands of ports twice would cost minutes).
 */
export function likelyPortsArgv(p: Profile, ip: string | string[], family: 4 | 6, xmlPath: string): string[] | null {
  if (!hasLikelyPorts(p)) return null;
  const a = discoveryArgv(p, ip, family, xmlPath);
  a.splice(a.indexOf("-p") + 2, 0, "--top-ports", String(LIKELY_PORTS));
  return a;
}

/**
 * A local run's shared first look at many targets (first-look.ts): the likely ports of a long TCP
 * list, or a short TCP list whole, in one nmap, so that hosts running the same services announce
 * them together and share their service scans (each `-sV` nmap costs ≈0.4 CPU-s to start; one per
 * target made a dense network cost 14× nmap's own CPU). A short list swept twice costs little.
 * Null for UDP, whose pace is set by the targets' ICMP rate limits.
 */
export function firstLookArgv(p: Profile, ip: string | string[], family: 4 | 6, xmlPath: string): string[] | null {
  if (p.udp || p.tcp_scan === "none") return null;
  return likelyPortsArgv(p, ip, family, xmlPath) ?? discoveryArgv(p, ip, family, xmlPath);
}

/** Phase 2 argv: services on exactly the open ports found by phase 1 (on one target, or on several that have the same ports open). */
export function serviceArgv(p: Profile, ip: string | string[], family: 4 | 6, xmlPath: string, open: { tcp: number[]; udp: number[] }): string[] {
  const a = ["-oX", xmlPath, "--stats-every", "1s", ...common(p, family)];
  if (!a.includes("-Pn")) a.push("-Pn");
  const tcpScan = scanTypes({ ...p, udp: false }).filter((x) => x !== "-sU");
  if (open.tcp.length) a.push(...(tcpScan.length ? tcpScan : ["-sT"]));
  if (open.udp.length) a.push("-sU");
  a.push("-sV", "--version-intensity", String(p.service.version_intensity));
  if (p.service.default_scripts) a.push("-sC");
  if (p.service.os_detection) a.push("-O");
  if (p.service.traceroute) a.push("--traceroute");
  const spec = [open.tcp.length ? `T:${formatPorts(open.tcp)}` : "", open.udp.length ? `U:${formatPorts(open.udp)}` : ""].filter(Boolean).join(",");
  a.push("-p", spec, "--", ...(Array.isArray(ip) ? ip : [ip]));
  return a;
}
