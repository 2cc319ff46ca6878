/**
 * Network summary of a capture in Cuckoo3's `network` layout: host, domain, dns {query, response}, tcp, udp,
 * http (with request url/method/headers), plus tls (ClientHello SNI). TCP client streams are reassembled
 * (ordered by sequence number, retransmissions and overlaps dropped, stopping at a gap) up to a cap,
 * which is all the HTTP request heads and ClientHellos need.
 */
import { type Segment, TCP_ACK, TCP_SYN, decodeLink, decodeTransport, readCapture } from "./pcap.ts";
import { parseClientHello, parseDns, parseHttpRequests } from "./protocols.ts";

export interface NetworkOptions {
  /** UDP ports whose payload is parsed as DNS. */
  dnsPorts?: number[];
  /** Addresses left out of `host` (the analysis machine's own). */
  ignoreHosts?: string[];
  maxPackets?: number;
  /** Client bytes kept per TCP stream for protocol parsing. */
  streamCap?: number;
  /** Entries kept per list. */
  maxList?: number;
}

interface Endpoint {
  ip: string;
  port: number;
}

export interface FlowEntry {
  ts: number;
  srcip: string;
  srcport: number;
  dstip: string;
  dstport: number;
}

export interface NetworkSummary {
  host: string[];
  domain: string[];
  dns: { query: (FlowEntry & { type: string; name: string })[]; response: (FlowEntry & { type: string; name: string; data: string })[] };
  tcp: (FlowEntry & { tx_size: number; rx_size: number })[];
  udp: (FlowEntry & { size: number })[];
  http: (FlowEntry & {
    request: { version: string; url: string; protocol: "http"; method: string; host: string | null; path: string; user_agent: string | null; headers: { key: string; value: string }[]; length: number };
  })[];
  tls: (FlowEntry & { sni: string | null; version: string; alpn: string[] })[];
  stats: { packets: number; decoded: number; ignored: number; flows: number; damaged: boolean; truncated: boolean };
}

interface Direction {
  base: number | undefined;
  segs: { rel: number; data: Uint8Array }[];
  kept: number;
  seen: Set<number>;
  bytes: number;
}

interface TcpFlow {
  ts: number;
  client: Endpoint;
  server: Endpoint;
  /** The client is known from the handshake (else guessed from the ports). */
  sure: boolean;
  a: Endpoint;
  dirs: Map<string, Direction>;
}

const key = (e: Endpoint) => `${e.ip}|${e.port}`;

function newDirection(): Direction {
  return { base: undefined, segs: [], kept: 0, seen: new Set(), bytes: 0 };
}

function reassemble(d: Direction): Uint8Array {
  const segs = [...d.segs].sort((x, y) => x.rel - y.rel);
  const parts: Uint8Array[] = [];
  let next = 0;
  for (const s of segs) {
    if (s.rel > next) break; // a gap: what follows cannot be trusted to be contiguous
    const skip = next - s.rel;
    if (skip >= s.data.length) continue;
    parts.push(skip ? s.data.subarray(skip) : s.data);
    next = s.rel + s.data.length;
  }
  return Buffer.concat(parts);
}

export function analyzeCapture(buf: Uint8Array, opts: NetworkOptions = {}): NetworkSummary {
  const dnsPorts = new Set(opts.dnsPorts ?? [53]);
  const ignore = new Set(opts.ignoreHosts ?? []);
  const cap = opts.streamCap ?? 256 * 1024;
  const maxList = opts.maxList ?? 5000;
  const hosts = new Set<string>();
  const domains = new Set<string>();
  const out: NetworkSummary = { host: [], domain: [], dns: { query: [], response: [] }, tcp: [], udp: [], http: [], tls: [], stats: { packets: 0, decoded: 0, ignored: 0, flows: 0, damaged: false, truncated: false } };
  const flows = new Map<string, TcpFlow>();
  const push = <T>(list: T[], item: T) => {
    if (list.length < maxList) list.push(item);
    else out.stats.truncated = true;
  };
  const entry = (ts: number, src: Endpoint, dst: Endpoint): FlowEntry => ({ ts, srcip: src.ip, srcport: src.port, dstip: dst.ip, dstport: dst.port });

  const it = readCapture(buf, { maxPackets: opts.maxPackets ?? 2_000_000 });
  for (;;) {
    const r = it.next();
    if (r.done) {
      out.stats.damaged = r.value.damaged;
      if (r.value.truncated) out.stats.truncated = true;
      break;
    }
    const pkt = r.value;
    out.stats.packets++;
    const ip = decodeLink(pkt.linktype, pkt.data);
    const seg: Segment | undefined = ip && decodeTransport(ip);
    if (!seg) {
      out.stats.ignored++;
      continue;
    }
    out.stats.decoded++;
    const src = { ip: seg.ip.src, port: seg.sport };
    const dst = { ip: seg.ip.dst, port: seg.dport };
    for (const h of [src.ip, dst.ip]) if (!ignore.has(h) && hosts.size < maxList) hosts.add(h);

    if (seg.proto === "udp") {
      push(out.udp, { ...entry(pkt.ts, src, dst), size: seg.payload.length });
      if (dnsPorts.has(dst.port) || dnsPorts.has(src.port)) {
        const msg = parseDns(seg.payload);
        if (!msg) continue;
        if (!msg.response) {
          for (const q of msg.questions) push(out.dns.query, { ...entry(pkt.ts, src, dst), type: q.type, name: q.name });
        } else {
          for (const q of msg.questions) if ((q.type === "A" || q.type === "AAAA") && domains.size < maxList) domains.add(q.name);
          for (const a of msg.answers) push(out.dns.response, { ...entry(pkt.ts, src, dst), type: a.type, name: a.name, data: a.data });
        }
      }
      continue;
    }

    // TCP
    const fk = [key(src), key(dst)].sort().join("~");
    let flow = flows.get(fk);
    const flags = seg.flags ?? 0;
    if (!flow) {
      if (flows.size >= 200_000) {
        out.stats.truncated = true;
        continue;
      }
      const syn = (flags & TCP_SYN) !== 0;
      const ack = (flags & TCP_ACK) !== 0;
      let client = src;
      let server = dst;
      let sure = syn;
      if (syn && ack) [client, server] = [dst, src];
      else if (!syn && src.port < dst.port) [client, server] = [dst, src];
      if (!syn) sure = false;
      flow = { ts: pkt.ts, client, server, sure, a: src, dirs: new Map() };
      flows.set(fk, flow);
    }
    const dk = key(src);
    let d = flow.dirs.get(dk);
    if (!d) {
      d = newDirection();
      flow.dirs.set(dk, d);
    }
    const seq = seg.seq!;
    if (flags & TCP_SYN) d.base = (seq + 1) >>> 0;
    if (!seg.payload.length) continue;
    if (d.base === undefined) d.base = seq;
    const rel = (seq - d.base) | 0; // signed: a retransmission from before the base is negative
    if (!d.seen.has(rel)) {
      if (d.seen.size < 100_000) d.seen.add(rel);
      d.bytes += seg.payload.length;
      if (d.kept < cap && rel >= 0 && rel < cap) {
        d.segs.push({ rel, data: seg.payload.subarray(0, Math.min(seg.payload.length, cap - d.kept)) });
        d.kept += seg.payload.length;
      }
    }
  }

  for (const f of flows.values()) {
    const c = f.dirs.get(key(f.client)) ?? newDirection();
    const s = f.dirs.get(key(f.server)) ?? newDirection();
    let client = f.client;
    let server = f.server;
    let cStream = reassemble(c);
    let sStream = reassemble(s);
    // Without a handshake the port guess can be wrong: whoever sent the request/ClientHello is the client.
    if (!f.sure && looksLikeClient(sStream) && !looksLikeClient(cStream)) {
      [client, server, cStream, sStream] = [server, client, sStream, cStream];
    }
    const txSize = key(client) === key(f.client) ? c.bytes : s.bytes;
    const rxSize = key(client) === key(f.client) ? s.bytes : c.bytes;
    push(out.tcp, { ...entry(f.ts, client, server), tx_size: txSize, rx_size: rxSize });
    for (const req of parseHttpRequests(cStream)) {
      const hostHeader = req.host ?? server.ip;
      const port = /:\d+$/.test(hostHeader) || server.port === 80 ? "" : `:${server.port}`;
      push(out.http, {
        ...entry(f.ts, client, server),
        request: { version: req.version, url: `http://${hostHeader}${port}${req.path}`, protocol: "http", method: req.method, host: req.host, path: req.path, user_agent: req.user_agent, headers: req.headers, length: req.length },
      });
    }
    if (cStream.length >= 6 && cStream[0] === 22 && cStream[1] === 3) {
      const hello = parseClientHello(cStream);
      if (hello) push(out.tls, { ...entry(f.ts, client, server), sni: hello.sni, version: hello.version, alpn: hello.alpn });
    }
  }
  out.stats.flows = flows.size;
  out.tcp.sort((a, b) => a.ts - b.ts);
  out.http.sort((a, b) => a.ts - b.ts);
  out.tls.sort((a, b) => a.ts - b.ts);
  out.host = [...hosts];
  out.domain = [...domains];
  return out;
}

function looksLikeClient(s: Uint8Array): boolean {
  if (s.length >= 2 && s[0] === 22 && s[1] === 3) return true;
  return /^(?:GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT) /.test(Buffer.from(s.subarray(0, 8)).toString("latin1"));
}

