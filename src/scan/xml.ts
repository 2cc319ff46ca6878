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

export interface OsMatch { name: string; accuracy: number; line: number }
export interface ExtraPorts { state: string; count: number }

export interface ScanHost {
  ip: string;
  addrtype: "ipv4" | "ipv6";
  status: string;
  hostnames: string[];
  /** Every port nmap listed (open ones and any it listed one by one in another state). */
  ports: ScanPort[];
  /** The best OS match's name (osMatches[0]). */
  os?: string;
  osMatches?: OsMatch[];
  mac?: string;
  macVendor?: string;
  /** Ports nmap counted but did not list, per state. */
  extraports?: ExtraPorts[];
  hostScripts?: { id: string; output: string }[];
  /** nmap's starttime/endtime of the host, in ms. */
  startedAt?: number;
  endedAt?: number;
}

export interface ScanInfo { type: string; protocol: Proto; numservices: number; services: string }

export interface ScanReport {
  args: string;
  startedAt: number | null;
  finishedAt: number | null;
  hosts: ScanHost[];
  /** Ports nmap was asked to scan, per protocol, from <scaninfo>. */
  scanned: Partial<Record<Proto, string>>;
  scanInfo: ScanInfo[];
  version: string;
  elapsedS: number | null;
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
  // Numeric character references too: nmap writes newlines in script output as &#xa;.
  htmlEntities: true,
  isArray: (name, jpath) => ["host", "port", "hostname", "address", "script", "cpe", "scaninfo", "osmatch", "target", "extraports"].includes(name) && jpath !== "nmaprun.host.hostscript",
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
  // nmap writes <runstats> last: without it the scan did not finish and the file is cut short.
  if (!run.runstats) throw inputError(`${source}: truncated nmap report (no <runstats>: the scan did not finish)`);
  const scanned: ScanReport["scanned"] = {};
  const scanInfo: ScanInfo[] = [];
  for (const si of arr<any>(run.scaninfo)) if (si?.protocol && si?.services !== undefined) {
    scanned[si.protocol as Proto] = String(si.services);
    scanInfo.push({ type: String(si.type ?? "syn"), protocol: si.protocol as Proto, numservices: Number(si.numservices ?? 0), services: String(si.services) });
  }
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
    const osMatches = arr<any>(h.os?.osmatch).filter((m) => m?.name).map((m) => ({ name: String(m.name), accuracy: Number(m.accuracy ?? 0), line: Number(m.line ?? 0) }));
    if (osMatches.length) {
      host.os = osMatches[0]!.name;
      host.osMatches = osMatches;
    }
    const mac = arr<any>(h.address).find((a) => a.addrtype === "mac");
    if (mac?.addr) {
      host.mac = String(mac.addr);
      if (mac.vendor) host.macVendor = String(mac.vendor);
    }
    const extra = arr<any>(h.ports?.extraports).filter((e) => e?.state).map((e) => ({ state: String(e.state), count: Number(e.count ?? 0) }));
    if (extra.length) host.extraports = extra;
    const hs = arr<any>(h.hostscript?.script).filter((x) => x?.id).map((x) => ({ id: String(x.id), output: String(x.output ?? "") }));
    if (hs.length) host.hostScripts = hs;
    if (Number.isFinite(Number(h.starttime)) && h.starttime !== undefined) host.startedAt = Number(h.starttime) * 1000;
    if (Number.isFinite(Number(h.endtime)) && h.endtime !== undefined) host.endedAt = Number(h.endtime) * 1000;
    hosts.push(host);
  }
  const start = Number(run.start);
  const fin = Number(run.runstats?.finished?.time);
  const up = Number(run.runstats?.hosts?.up);
  const elapsed = Number(run.runstats?.finished?.elapsed);
  return {
    args: String(run.args ?? ""),
    version: String(run.version ?? ""),
    scanInfo,
    elapsedS: Number.isFinite(elapsed) ? elapsed : null,
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

// Attribute text: newlines and tabs as character references, or a parser would fold them to spaces.
const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;").replace(/\n/g, "&#xa;").replace(/\r/g, "&#xd;").replace(/\t/g, "&#x9;");
const attrs = (o: Record<string, string | number | undefined>) =>
  Object.entries(o)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => ` ${k}="${esc(String(v))}"`)
    .join("");

export interface XmlMeta {
  args?: string;
  /** ms */
  startedAt?: number;
  finishedAt?: number;
  /** What was scanned (<scaninfo>); a ScanLedger running replace from the file needs it. */
  scanInfo?: ScanInfo[];
}

const sec = (ms: number) => Math.floor(ms / 1000);
const portXml = (p: ScanPort) => {
  const svc = p.service ? `<service${attrs({ name: p.service, product: p.product, version: p.version, extrainfo: p.extrainfo, tunnel: p.tunnel, method: p.method ?? "table", conf: p.conf ?? 3 })}>${(p.cpe ?? []).map((c) => `<cpe>${esc(c)}</cpe>`).join("")}</service>` : "";
  const scripts = (p.scripts ?? []).map((x) => `<script${attrs({ id: x.id, output: x.output })}/>`).join("");
  return `<port${attrs({ protocol: p.proto, portid: p.port })}><state${attrs({ state: p.state, reason: p.reason ?? "unknown", reason_ttl: 0 })}/>${svc}${scripts}</port>`;
};

/**
 * nmap XML (xmloutputversion 1.05) valid against nmap.dtd, keeping what nmap wrote: how each
 * service was found, scripts, OS matches, MAC, extraports, up hosts without open ports, times,
 * and the scanned ports, so ndiff, other tools and a ScanLedger (replace) can read it.
 */
export function toNmapXml(hosts: ScanHost[], meta: XmlMeta = {}): string {
  const times = hosts.flatMap((h) => [h.startedAt, h.endedAt].filter((t): t is number => t !== undefined));
  const startMs = meta.startedAt ?? (times.length ? Math.min(...times) : Date.now());
  const endMs = meta.finishedAt ?? (times.length ? Math.max(...times) : startMs);
  const start = sec(startMs), end = sec(endMs);
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE nmaprun>`,
    `<nmaprun${attrs({ scanner: "nmap", args: meta.args ?? "falc scan", start, startstr: new Date(start * 1000).toUTCString(), version: "7.93", xmloutputversion: "1.05" })}>`,
    ...(meta.scanInfo ?? []).map((si) => `<scaninfo${attrs({ type: si.type, protocol: si.protocol, numservices: si.numservices, services: si.services })}/>`),
    `<verbose level="0"/>`,
    `<debugging level="0"/>`,
  ];
  for (const h of hosts) {
    lines.push(`<host${attrs({ starttime: h.startedAt !== undefined ? sec(h.startedAt) : undefined, endtime: h.endedAt !== undefined ? sec(h.endedAt) : undefined })}>`);
    lines.push(`<status${attrs({ state: h.status === "unknown" ? "up" : h.status, reason: "user-set", reason_ttl: 0 })}/>`);
    lines.push(`<address${attrs({ addr: h.ip, addrtype: h.addrtype })}/>`);
    if (h.mac) lines.push(`<address${attrs({ addr: h.mac, addrtype: "mac", vendor: h.macVendor })}/>`);
    lines.push(`<hostnames>${h.hostnames.map((n) => `<hostname${attrs({ name: n, type: "user" })}/>`).join("")}</hostnames>`);
    lines.push(`<ports>${(h.extraports ?? []).map((e) => `<extraports${attrs({ state: e.state, count: e.count })}/>`).join("")}`);
    for (const p of h.ports) lines.push(portXml(p));
    lines.push(`</ports>`);
    if (h.osMatches?.length) lines.push(`<os>${h.osMatches.map((m) => `<osmatch${attrs({ name: m.name, accuracy: m.accuracy, line: m.line })}/>`).join("")}</os>`);
    if (h.hostScripts?.length) lines.push(`<hostscript>${h.hostScripts.map((x) => `<script${attrs({ id: x.id, output: x.output })}/>`).join("")}</hostscript>`);
    lines.push(`</host>`);
  }
  const up = hosts.filter((h) => h.status !== "down").length;
  lines.push(
    `<runstats><finished${attrs({ time: end, timestr: new Date(end * 1000).toUTCString(), elapsed: Math.max(0, end - start).toFixed(2), exit: "success" })}/><hosts${attrs({ up, down: hosts.length - up, total: hosts.length })}/></runstats>`,
    `</nmaprun>`,
    "",
  );
  return lines.join("\n");
}
