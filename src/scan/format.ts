import { usageError } from "../core/errors.ts";
import { table } from "../cli/table.ts";
import type { LedgerHost } from "./ledger.ts";
import { toNmapXml, type ScanHost, type XmlMeta } from "./xml.ts";

/** A ledger host as nmap would list it: its ports with those the last scan listed in other states. */
function asScanHost(h: ScanHost | LedgerHost): ScanHost {
  if ("status" in h) return h;
  const { firstSeen: _f, lastSeen: _l, listed, ports, ...rest } = h;
  const all = [...ports.map(({ firstSeen: _a, lastSeen: _b, ...p }) => p), ...(listed ?? []).filter((x) => !ports.some((p) => p.proto === x.proto && p.port === x.port))];
  all.sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
  return { ...rest, status: "up", ports: all, ...(h.osMatches?.length ? { os: h.osMatches[0]!.name } : {}) };
}

export const RESULT_FORMATS = ["table", "json", "ndjson", "csv", "xml"] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

export function checkFormat(f: string): ResultFormat {
  if (!(RESULT_FORMATS as readonly string[]).includes(f)) throw usageError(`--format must be one of ${RESULT_FORMATS.join(", ")}, got \`${f}\``);
  return f as ResultFormat;
}

const csvCell = (v: unknown) => {
  const s = v === undefined || v === null ? "" : String(v);
  // Quote always; neutralise spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return `"${safe.replace(/"/g, '""')}"`;
};

function rows(hosts: (ScanHost | LedgerHost)[]) {
  return hosts.flatMap((h) => h.ports.map((p) => ({ ip: h.ip, hostnames: h.hostnames.join(" "), proto: p.proto, port: p.port, state: p.state, service: p.service ?? "", product: p.product ?? "", version: p.version ?? "", extrainfo: p.extrainfo ?? "" })));
}

/** Results in one of the formats; xml is nmap-compatible so other tools can import it. */
export function formatResults(hosts: (ScanHost | LedgerHost)[], format: ResultFormat, meta?: XmlMeta): string {
  switch (format) {
    case "json":
      return JSON.stringify(hosts, null, 2) + "\n";
    case "ndjson":
      return rows(hosts).map((r) => JSON.stringify(r)).join("\n") + (hosts.length ? "\n" : "");
    case "csv": {
      const rs = rows(hosts);
      const head = ["ip", "hostnames", "proto", "port", "state", "service", "product", "version", "extrainfo"];
      return [head.join(","), ...rs.map((r) => head.map((k) => csvCell((r as any)[k])).join(","))].join("\n") + "\n";
    }
    case "xml":
      return toNmapXml(hosts.map(asScanHost), meta);
    default: {
      const rs = rows(hosts);
      if (!rs.length) return "no open ports\n";
      return table(["IP", "PORT", "STATE", "SERVICE", "VERSION", "HOSTNAMES"], rs.map((r) => [r.ip, `${r.port}/${r.proto}`, r.state, r.service || null, [r.product, r.version, r.extrainfo && `(${r.extrainfo})`].filter(Boolean).join(" ") || null, r.hostnames || null])) + "\n";
    }
  }
}
