import { XMLParser, XMLValidator } from "fast-xml-parser";
import { inputError } from "../core/errors.ts";

export type Proto = "tcp" | "udp" | "sctp";

export interface ScanPort {
  proto: Proto;
  port: number;
  state: string;
  reason?: string;
  service?: string;
  product?: string;
  version?: string;
  extrainfo?: string;
  tunnel?: string;
  method?: string;
  conf?: number;
  cpe?: string[];
  scripts?: { id: string; output: string }[];
}

export interface ScanHost {
  ip: string;
  addrtype: "ipv4" | "ipv6";
  status: string;
  hostnames: string[];
  ports: ScanPort[];
  os?: string;
}

export interface ScanReport {
  args: string;
  startedAt: number | null;
  finishedAt: number | null;
  hosts: ScanHost[];
  /** Ports nmap was asked to scan, per protocol, from <scaninfo>. */
  scanned: Partial<Record<Proto, string>>;
  /** Hosts nmap found up (<runstats>); with `--open` a host without open ports is up but not listed. */
  hostsUp: number | null;
  /** Targets nmap skipped (`<target status="skipped">`: no route, say), by specification. */
  skipped: { spec: string; reason: string }[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  allowBooleanAttributes: true,
  parseAttributeValue: false,
  processEntities: true,
  isArray: (name) => ["host", "port", "hostname", "address", "script", "cpe", "scaninfo", "osmatch", "target"].includes(name),
});

const arr = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined);

/** Parse nmap's -oX output. Truncated or garbage XML gives one clear error, never a partial report. */
export function parseNmapXml(text: string, source = "nmap XML"): ScanReport {
  if (!text.trim()) throw inputError(`${source}: empty`);
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const e = valid.err;
    const truncated = !/<\/nmaprun>\s*$/.test(text);
    throw inputError(`${source}: ${truncated ? "truncated or malformed XML" : "malformed XML"} (line ${e.line}: ${e.msg})`);
  }
  const doc = parser.parse(text);
  const run = doc?.nmaprun;
  if (!run || typeof run !== "object") throw inputError(`${source}: not an nmap report (no <nmaprun> element)`);
  const scanned: ScanReport["scanned"] = {};
  for (const si of arr<any>(run.scaninfo)) if (si?.protocol && si?.services !== undefined) scanned[si.protocol as Proto] = String(si.services);
  const hosts: ScanHost[] = [];
  for (const h of arr<any>(run.host)) {
    const addr = arr<any>(h.address).find((a) => a.addrtype === "ipv4" || a.addrtype === "ipv6");
    if (!addr?.addr) continue;
    const ports: ScanPort[] = [];
    for (const p of arr<any>(h.ports?.port)) {
      const portid = Number(p.portid);
      if (!Number.isInteger(portid) || portid < 0 || portid > 65535) throw inputError(`${source}: bad port id \`${String(p.portid).slice(0, 20)}\``);
      const svc = p.service ?? {};
      const port: ScanPort = { proto: (p.protocol ?? "tcp") as Proto, port: portid, state: p.state?.state ?? "unknown" };
      const set = <K extends keyof ScanPort>(k: K, v: ScanPort[K] | undefined) => { if (v !== undefined) port[k] = v; };
      set("reason", str(p.state?.reason));
      set("service", str(svc.name));
      set("product", str(svc.product));
      set("version", str(svc.version));
      set("extrainfo", str(svc.extrainfo));
      set("tunnel", str(svc.tunnel));
      set("method", str(svc.method));
      if (svc.conf !== undefined) port.conf = Number(svc.conf);
      const cpe = arr<any>(svc.cpe).map((c) => (typeof c === "string" ? c : c?.["#text"])).filter(Boolean);
      if (cpe.length) port.cpe = cpe;
      const scripts = arr<any>(p.script).filter((s) => s?.id).map((s) => ({ id: String(s.id), output: String(s.output ?? "") }));
      if (scripts.length) port.scripts = scripts;
      ports.push(port);
    }
    const host: ScanHost = {
      ip: String(addr.addr),
      addrtype: addr.addrtype,
      status: h.status?.state ?? "unknown",
      hostnames: [...new Set(arr<any>(h.hostnames?.hostname).map((n) => String(n.name ?? "")).filter(Boolean))],
      ports,
    };
    const os = arr<any>(h.os?.osmatch)[0]?.name;
    if (os) host.os = String(os);
    hosts.push(host);
  }
  const start = Number(run.start);
  const fin = Number(run.runstats?.finished?.time);
  const up = Number(run.runstats?.hosts?.up);
  return {
    args: String(run.args ?? ""),
    startedAt: Number.isFinite(start) ? start * 1000 : null,
    finishedAt: Number.isFinite(fin) ? fin * 1000 : null,
    hosts,
    scanned,
    hostsUp: Number.isInteger(up) && up >= 0 ? up : null,
    skipped: arr<any>(run.target).filter((t) => t?.status === "skipped").map((t) => ({ spec: String(t.specification ?? ""), reason: String(t.reason ?? "") })),
  };
}

const key = (p: { proto: string; port: number }) => `${p.proto}/${p.port}`;

/** Merge phase 1 (open ports) with phase 2 (services): phase 2 wins per field, per host and port. */
export function mergeHosts(phase1: ScanHost[], phase2: ScanHost[]): ScanHost[] {
  const out = new Map<string, ScanHost>();
  for (const h of [...phase1, ...phase2]) {
    const cur = out.get(h.ip);
    if (!cur) {
      out.set(h.ip, { ...h, hostnames: [...h.hostnames], ports: h.ports.map((p) => ({ ...p })) });
      continue;
    }
    cur.hostnames = [...new Set([...cur.hostnames, ...h.hostnames])];
    if (h.status === "up") cur.status = "up";
    if (h.os) cur.os = h.os;
    const byKey = new Map(cur.ports.map((p) => [key(p), p]));
    for (const p of h.ports) {
      const old = byKey.get(key(p));
      if (old) Object.assign(old, p);
      else {
        const np = { ...p };
        cur.ports.push(np);
        byKey.set(key(p), np);
      }
    }
    cur.ports.sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
  }
  return [...out.values()];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
const attrs = (o: Record<string, string | number | undefined>) =>
  Object.entries(o)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => ` ${k}="${esc(String(v))}"`)
    .join("");

/** nmap-compatible XML (xmloutputversion 1.05), so other tools (and ScanLedger) can import it. */
export function toNmapXml(hosts: ScanHost[], meta: { args?: string; startedAt?: number; finishedAt?: number } = {}): string {
  const start = Math.floor((meta.startedAt ?? Date.now()) / 1000);
  const end = Math.floor((meta.finishedAt ?? Date.now()) / 1000);
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE nmaprun>`,
    `<nmaprun${attrs({ scanner: "nmap", args: meta.args ?? "falc scan", start, startstr: new Date(start * 1000).toUTCString(), version: "7.93", xmloutputversion: "1.05" })}>`,
  ];
  for (const h of hosts) {
    lines.push(`<host>`, `<status${attrs({ state: h.status === "unknown" ? "up" : h.status, reason: "user-set", reason_ttl: 0 })}/>`);
    lines.push(`<address${attrs({ addr: h.ip, addrtype: h.addrtype })}/>`);
    lines.push(`<hostnames>${h.hostnames.map((n) => `<hostname${attrs({ name: n, type: "user" })}/>`).join("")}</hostnames>`);
    lines.push(`<ports>`);
    for (const p of h.ports) {
      const svc = attrs({ name: p.service, product: p.product, version: p.version, extrainfo: p.extrainfo, tunnel: p.tunnel, method: p.method ?? "table", conf: p.conf ?? 3 });
      const cpe = (p.cpe ?? []).map((c) => `<cpe>${esc(c)}</cpe>`).join("");
      const scripts = (p.scripts ?? []).map((s) => `<script${attrs({ id: s.id, output: s.output })}/>`).join("");
      lines.push(`<port${attrs({ protocol: p.proto, portid: p.port })}><state${attrs({ state: p.state, reason: p.reason ?? "unknown", reason_ttl: 0 })}/>${p.service ? `<service${svc}>${cpe}</service>` : ""}${scripts}</port>`);
    }
    lines.push(`</ports>`, `</host>`);
  }
  const up = hosts.filter((h) => h.status !== "down").length;
  lines.push(`<runstats><finished${attrs({ time: end, timestr: new Date(end * 1000).toUTCString(), exit: "success" })}/><hosts${attrs({ up, down: hosts.length - up, total: hosts.length })}/></runstats>`, `</nmaprun>`, "");
  return lines.join("\n");
}
