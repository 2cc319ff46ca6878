import { lookup } from "node:dns/promises";
import { readFileSync, statSync } from "node:fs";
import { z } from "zod";
import { inputError } from "../core/errors.ts";
import { bits, cidrSize, formatAddr, inCidr, parseAddr, parseCidr, type Addr, type Cidr, type Family } from "./ip.ts";

/** One address to scan; hostnames that resolved to it are kept for the ledger and the XML. */
export interface Target {
  ip: string;
  family: Family;
  hostnames: string[];
  /** The spec the user typed that produced it. */
  input: string;
}

/** Why a target was dropped, with Falcoria's reason names. */
export type RefusalReason = "duplicate" | "unresolvable" | "out_of_scope" | "already_in_ledger";

export interface Refusal {
  input: string;
  ip?: string;
  reason: RefusalReason;
  detail: string;
}

export interface TargetSet {
  targets: Target[];
  refused: Refusal[];
}

/** `scope:` section of falc.yaml: CIDR lists. An empty allow list allows everything not denied. */
export const scopeSchema = z
  .object({
    allow: z.array(z.string().min(1)).default([]),
    deny: z.array(z.string().min(1)).default([]),
  })
  .strict();
export type ScopeConfig = z.infer<typeof scopeSchema>;

export interface Scope {
  allow: Cidr[];
  deny: Cidr[];
}

export function compileScope(cfg: ScopeConfig): Scope {
  const conv = (list: string[], key: string) =>
    list.map((s) => {
      const c = parseCidr(s.includes("/") ? s : `${s}/${s.includes(":") ? 128 : 32}`);
      if (!c) throw inputError(`scope.${key}: \`${s}\` is not an address or CIDR`);
      return c;
    });
  return { allow: conv(cfg.allow, "allow"), deny: conv(cfg.deny, "deny") };
}

/** Null when the address is in scope, else the reason. */
export function scopeCheck(a: Addr, scope: Scope): string | null {
  const fmt = (c: Cidr) => `${formatAddr({ family: c.family, value: c.base })}/${c.prefix}`;
  const denied = scope.deny.find((c) => inCidr(a, c));
  if (denied) return `denied by scope.deny ${fmt(denied)}`;
  if (scope.allow.length && !scope.allow.some((c) => inCidr(a, c))) return "not inside any scope.allow range";
  return null;
}

const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const V4_SHORT_RANGE = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$/;

export type Spec =
  | { kind: "addr"; addr: Addr }
  | { kind: "block"; family: Family; first: bigint; count: bigint }
  | { kind: "host"; name: string };

/**
 * Parse one target spec. Anything that is not an address, CIDR, range or hostname is refused
 * with the reason, so option-looking or shell-looking text never reaches nmap.
 */
export function parseSpec(raw: string): Spec {
  const s = raw;
  const show = JSON.stringify(s.length > 60 ? s.slice(0, 60) + "…" : s);
  if (s.length === 0) throw inputError("empty target");
  if (s.startsWith("-")) throw inputError(`target ${show} begins with \`-\`: options are not accepted as targets`);
  if (/\s/.test(s)) throw inputError(`target ${show} contains whitespace: give one target per argument`);
  if (/[;&|`$<>(){}\\'"*?!,=]/.test(s)) throw inputError(`target ${show} contains a character not allowed in a target`);
  const a = parseAddr(s);
  if (a) return { kind: "addr", addr: a };
  if (s.includes("/")) {
    const c = parseCidr(s);
    if (!c) throw inputError(`target ${show} is not a valid CIDR`);
    return { kind: "block", family: c.family, first: c.base, count: cidrSize(c) };
  }
  const short = V4_SHORT_RANGE.exec(s);
  if (short) {
    const start = parseAddr(short[1]! + short[2]!);
    const end = Number(short[3]);
    if (!start || end > 255) throw inputError(`target ${show} is not a valid range`);
    const last = (start.value & ~255n) | BigInt(end);
    if (last < start.value) throw inputError(`target ${show}: range end is before its start`);
    return { kind: "block", family: 4, first: start.value, count: last - start.value + 1n };
  }
  if (s.includes("-") && s.split("-").length === 2) {
    const [x, y] = s.split("-") as [string, string];
    const ax = parseAddr(x), ay = parseAddr(y);
    if (ax && ay) {
      if (ax.family !== ay.family) throw inputError(`target ${show}: range mixes IPv4 and IPv6`);
      if (ay.value < ax.value) throw inputError(`target ${show}: range end is before its start`);
      return { kind: "block", family: ax.family, first: ax.value, count: ay.value - ax.value + 1n };
    }
  }
  if (HOSTNAME.test(s) && !/^[\d.]+$/.test(s)) return { kind: "host", name: s.replace(/\.$/, "").toLowerCase() };
  throw inputError(`target ${show} is not an address, CIDR, range (10.0.0.1-20) or hostname`);
}

/** `-iL`-style file: targets separated by whitespace, `#` comments. Lines are never echoed back. */
export function readTargetsFile(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw inputError(`targets file ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (!st.isFile()) throw inputError(`targets file ${path}: not a regular file`);
  if (st.size > 16 * 1024 * 1024) throw inputError(`targets file ${path}: larger than 16 MiB`);
  const out: string[] = [];
  const lines = readFileSync(path, "utf8").split("\n");
  lines.forEach((line, i) => {
    for (const tok of line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean)) {
      try {
        parseSpec(tok);
      } catch {
        throw inputError(`targets file ${path} line ${i + 1}: not a target (address, CIDR, range or hostname)`);
      }
      out.push(tok);
    }
  });
  return out;
}

export type Resolver = (host: string) => Promise<string[]>;

export const dnsResolver: Resolver = async (host) => {
  const res = await lookup(host, { all: true, verbatim: true });
  return res.map((r) => r.address);
};

export interface ExpandOptions {
  scope?: Scope;
  /** Most addresses one invocation may expand to (scan.max_targets). */
  maxTargets: number;
  resolve?: Resolver;
  /** Addresses already in the project ledger (refused as already_in_ledger when given). */
  inLedger?: (ip: string) => boolean;
}

/** Expand specs into unique addresses, refusing per target with Falcoria's reasons. */
export async function expandTargets(specs: string[], opts: ExpandOptions): Promise<TargetSet> {
  const parsed = specs.map((s) => ({ input: s, spec: parseSpec(s) }));
  let total = 0n;
  for (const { input, spec } of parsed) {
    const n = spec.kind === "block" ? spec.count : 1n;
    if (n > BigInt(opts.maxTargets))
      throw inputError(`target ${input} covers ${n} addresses, over the limit of ${opts.maxTargets} (scan.max_targets)`);
    total += n;
  }
  if (total > BigInt(opts.maxTargets)) throw inputError(`targets cover ${total} addresses, over the limit of ${opts.maxTargets} (scan.max_targets)`);

  const resolve = opts.resolve ?? dnsResolver;
  const byIp = new Map<string, Target>();
  const refused: Refusal[] = [];
  const add = (input: string, a: Addr, hostname?: string) => {
    const ip = formatAddr(a);
    const seen = byIp.get(ip);
    if (seen) {
      if (hostname && !seen.hostnames.includes(hostname)) seen.hostnames.push(hostname);
      else refused.push({ input, ip, reason: "duplicate", detail: `${ip} already given by ${seen.input}` });
      return;
    }
    if (opts.scope) {
      const why = scopeCheck(a, opts.scope);
      if (why) return void refused.push({ input, ip, reason: "out_of_scope", detail: why });
    }
    if (opts.inLedger?.(ip)) return void refused.push({ input, ip, reason: "already_in_ledger", detail: `${ip} is already in the project` });
    byIp.set(ip, { ip, family: a.family, hostnames: hostname ? [hostname] : [], input });
  };
  for (const { input, spec } of parsed) {
    if (spec.kind === "addr") add(input, spec.addr);
    else if (spec.kind === "block") for (let i = 0n; i < spec.count; i++) add(input, { family: spec.family, value: spec.first + i });
    else {
      let ips: string[] = [];
      try {
        ips = await resolve(spec.name);
      } catch (e) {
        refused.push({ input, reason: "unresolvable", detail: `${spec.name}: ${(e as NodeJS.ErrnoException).code ?? "lookup failed"}` });
        continue;
      }
      if (!ips.length) refused.push({ input, reason: "unresolvable", detail: `${spec.name}: no addresses` });
      for (const ip of ips) {
        const a = parseAddr(ip);
        if (a) add(input, a, spec.name);
      }
    }
  }
  return { targets: [...byIp.values()], refused };
}

export { bits };
