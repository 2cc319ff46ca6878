/**
 * Application protocols seen in captures: DNS messages (questions and answers, compressed names),
 * TLS ClientHello (SNI, ALPN, version) and HTTP/1.x requests (pipelined, Content-Length bodies skipped).
 * All parsers take untrusted bytes and return undefined (or fewer results) rather than throw.
 */
import { textView } from "./bytes.ts";
import { ipv6 } from "./pcap.ts";

export const DNS_TYPES: Record<number, string> = {
  1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 35: "NAPTR", 43: "DS", 46: "RRSIG",
  48: "DNSKEY", 64: "SVCB", 65: "HTTPS", 255: "ANY",
};

export interface DnsMessage {
  id: number;
  response: boolean;
  rcode: number;
  questions: { name: string; type: string }[];
  answers: { name: string; type: string; ttl: number; data: string }[];
}

function readName(d: Uint8Array, off: number): [string, number] | undefined {
  const labels: string[] = [];
  let p = off;
  let end = -1;
  let total = 0;
  for (let jumps = 0; jumps < 32; ) {
    if (p >= d.length) return undefined;
    const len = d[p]!;
    if (len === 0) {
      if (end < 0) end = p + 1;
      return [labels.join("."), end];
    }
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= d.length) return undefined;
      if (end < 0) end = p + 2;
      p = ((len & 0x3f) << 8) | d[p + 1]!;
      jumps++;
      continue;
    }
    if (len > 63 || p + 1 + len > d.length) return undefined;
    total += len + 1;
    if (total > 255) return undefined;
    labels.push(Buffer.from(d.subarray(p + 1, p + 1 + len)).toString("latin1"));
    p += 1 + len;
  }
  return undefined;
}

export function parseDns(d: Uint8Array): DnsMessage | undefined {
  if (d.length < 12) return undefined;
  const u16 = (o: number) => (d[o]! << 8) | d[o + 1]!;
  const flags = u16(2);
  const qd = u16(4);
  const an = u16(6);
  if (qd > 64 || an > 256) return undefined;
  const msg: DnsMessage = { id: u16(0), response: (flags & 0x8000) !== 0, rcode: flags & 0xf, questions: [], answers: [] };
  let p = 12;
  for (let i = 0; i < qd; i++) {
    const n = readName(d, p);
    if (!n || n[1] + 4 > d.length) return msg.questions.length ? msg : undefined;
    const type = u16(n[1]);
    msg.questions.push({ name: n[0], type: DNS_TYPES[type] ?? `TYPE${type}` });
    p = n[1] + 4;
  }
  for (let i = 0; i < an; i++) {
    const n = readName(d, p);
    if (!n || n[1] + 10 > d.length) break;
    const type = u16(n[1]);
    const ttl = ((d[n[1] + 4]! << 24) | (d[n[1] + 5]! << 16) | (d[n[1] + 6]! << 8) | d[n[1] + 7]!) >>> 0;
    const rdlen = u16(n[1] + 8);
    const rd = n[1] + 10;
    if (rd + rdlen > d.length) break;
    let data = "";
    if (type === 1 && rdlen === 4) data = `${d[rd]}.${d[rd + 1]}.${d[rd + 2]}.${d[rd + 3]}`;
    else if (type === 28 && rdlen === 16) data = ipv6(d, rd);
    else if (type === 5 || type === 2 || type === 12) data = readName(d, rd)?.[0] ?? "";
    else if (type === 15 && rdlen > 2) data = readName(d, rd + 2)?.[0] ?? "";
    else if (type === 16) {
      const parts: string[] = [];
      for (let q = rd; q < rd + rdlen; ) {
        const l = d[q]!;
        parts.push(Buffer.from(d.subarray(q + 1, Math.min(q + 1 + l, rd + rdlen))).toString("latin1"));
        q += 1 + l;
      }
      data = parts.join("");
    }
    msg.answers.push({ name: n[0], type: DNS_TYPES[type] ?? `TYPE${type}`, ttl, data });
    p = rd + rdlen;
  }
  return msg;
}

export interface ClientHello {
  sni: string | null;
  alpn: string[];
  /** The highest version offered (supported_versions when present). */
  version: string;
}

const TLS_VERSIONS: Record<number, string> = { 0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3" };

/** A ClientHello at the start of a client's byte stream (the records may span TCP segments). */
export function parseClientHello(stream: Uint8Array): ClientHello | undefined {
  // Records of type handshake (22) carry the handshake message, possibly across several records.
  const hs: number[] = [];
  let p = 0;
  while (p + 5 <= stream.length && hs.length < 65536) {
    if (stream[p] !== 22 || stream[p + 1] !== 3) break;
    const len = (stream[p + 3]! << 8) | stream[p + 4]!;
    const body = stream.subarray(p + 5, Math.min(stream.length, p + 5 + len));
    for (const b of body) hs.push(b);
    p += 5 + len;
    if (hs.length >= 4 && hs.length >= 4 + ((hs[1]! << 16) | (hs[2]! << 8) | hs[3]!)) break;
  }
  const d = Uint8Array.from(hs);
  if (d.length < 4 || d[0] !== 1) return undefined;
  const u16 = (o: number) => (d[o]! << 8) | d[o + 1]!;
  let o = 4;
  if (o + 34 > d.length) return undefined;
  let version = TLS_VERSIONS[u16(o)] ?? `0x${u16(o).toString(16)}`;
  o += 2 + 32;
  o += 1 + (d[o] ?? 0);
  if (o + 2 > d.length) return undefined;
  o += 2 + u16(o);
  if (o + 1 > d.length) return undefined;
  o += 1 + d[o]!;
  const out: ClientHello = { sni: null, alpn: [], version };
  if (o + 2 > d.length) return out;
  const extEnd = Math.min(d.length, o + 2 + u16(o));
  o += 2;
  while (o + 4 <= extEnd) {
    const type = u16(o);
    const len = u16(o + 2);
    const e = o + 4;
    if (e + len > extEnd) break;
    if (type === 0 && len >= 5) {
      // server_name list: the first host_name (type 0) entry.
      let q = e + 2;
      while (q + 3 <= e + len) {
        const nt = d[q]!;
        const nl = u16(q + 1);
        if (nt === 0 && q + 3 + nl <= e + len) {
          out.sni = Buffer.from(d.subarray(q + 3, q + 3 + nl)).toString("latin1");
          break;
        }
        q += 3 + nl;
      }
    } else if (type === 16 && len >= 2) {
      for (let q = e + 2; q < e + len; ) {
        const l = d[q]!;
        out.alpn.push(Buffer.from(d.subarray(q + 1, q + 1 + l)).toString("latin1"));
        q += 1 + l;
      }
    } else if (type === 43 && len >= 1) {
      let best = 0;
      for (let q = e + 1; q + 1 < e + 1 + d[e]! && q + 1 < e + len; q += 2) {
        const v = u16(q);
        if (TLS_VERSIONS[v] && v > best) best = v;
      }
      if (best) version = TLS_VERSIONS[best]!;
      out.version = version;
    }
    o = e + len;
  }
  return out;
}

export interface HttpRequest {
  method: string;
  path: string;
  version: string;
  headers: { key: string; value: string }[];
  host: string | null;
  user_agent: string | null;
  /** Body bytes declared by Content-Length. */
  length: number;
}

const METHODS = /^(?:GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PROPFIND) /;

/** Requests at the start of a client stream; stops at the first thing that is not a complete request head. */
export function parseHttpRequests(stream: Uint8Array, max = 100): HttpRequest[] {
  const out: HttpRequest[] = [];
  const text = textView(stream);
  let p = 0;
  while (out.length < max && p < text.length) {
    if (!METHODS.test(text.latin1Slice(p, Math.min(text.length, p + 16)))) break;
    const end = text.indexOf("\r\n\r\n", p, "latin1");
    if (end < 0 || end - p > 64 * 1024) break;
    const lines = text.latin1Slice(p, end).split("\r\n");
    const m = /^([A-Z]+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0]!);
    if (!m) break;
    const headers: HttpRequest["headers"] = [];
    for (const l of lines.slice(1, 101)) {
      const i = l.indexOf(":");
      if (i > 0) headers.push({ key: l.slice(0, i).trim(), value: l.slice(i + 1).trim() });
    }
    const h = (k: string) => headers.find((x) => x.key.toLowerCase() === k)?.value ?? null;
    const length = Math.max(0, Number.parseInt(h("content-length") ?? "0", 10) || 0);
    out.push({ method: m[1]!, path: m[2]!, version: m[3]!.slice(5), headers: headers.slice(0, 20), host: h("host"), user_agent: h("user-agent"), length });
    p = end + 4 + length;
  }
  return out;
}
