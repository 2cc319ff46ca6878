/**
 * A real capture for the network tests: tcpdump on loopback while this process makes DNS queries
 * (a tiny UDP DNS server here, a real resolver client), HTTP requests (one split over several TCP
 * segments, one with fetch) and TLS handshakes with SNI (a local TLS server with an openssl self-signed
 * certificate). Everything listens on free ports and is stopped afterwards.
 */
import { createSocket } from "node:dgram";
import dns from "node:dns";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { run, sampleDir } from "./samples.ts";

export interface CaptureResult {
  pcap: string;
  ports: { dns: number; http: number; tls: number; http6?: number };
  names: string[];
  answer: string;
  sni: string;
  userAgent: string;
  splitPath: string;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dnsAnswer(query: Buffer, ip: string): Buffer {
  // Echo the question, flag as response, one A record pointing back at the question (0xc00c).
  let p = 12;
  while (p < query.length && query[p] !== 0) p += query[p]! + 1;
  const qEnd = p + 5;
  const head = Buffer.from(query.subarray(0, qEnd));
  head.writeUInt16BE(0x8180, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(1, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  const ans = Buffer.alloc(16);
  ans.writeUInt16BE(0xc00c, 0);
  ans.writeUInt16BE(1, 2);
  ans.writeUInt16BE(1, 4);
  ans.writeUInt32BE(60, 6);
  ans.writeUInt16BE(4, 10);
  ip.split(".").forEach((o, i) => ans.writeUInt8(Number(o), 12 + i));
  return Buffer.concat([head, ans]);
}

export async function captureLoopback(dir: string): Promise<CaptureResult> {
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  await run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=falc-tls.test"]);
  const answer = "203.0.113.7";

  const udp = createSocket("udp4");
  udp.on("message", (msg, rinfo) => udp.send(dnsAnswer(msg, answer), rinfo.port, rinfo.address));
  await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
  const dnsPort = udp.address().port;

  const httpBody = "hello";
  const http = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        if (d.toString("latin1").includes("\r\n\r\n")) s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${httpBody.length}\r\nConnection: close\r\n\r\n${httpBody}`);
      },
    },
  });
  let http6: { port: number; stop(closeActive?: boolean): void } | undefined;
  try {
    http6 = Bun.listen({ hostname: "::1", port: 0, socket: { data(s) { s.write(`HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n`); s.end(); } } });
  } catch {
    http6 = undefined;
  }
  const tls = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") },
    socket: { data(s) { s.end(); } },
  });

  const pcap = join(dir, "dump.pcap");
  const ports = [dnsPort, http.port, tls.port, ...(http6 ? [http6.port] : [])];
  const filter = ports.map((p) => `port ${p}`).join(" or ");
  const td = Bun.spawn(["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-n", "-s", "0", "-Z", "root", "-w", pcap, filter], { stdout: "ignore", stderr: "pipe" });
  // tcpdump says "listening on lo" once the capture is armed.
  const reader = td.stderr.getReader();
  let errText = "";
  const deadline = Date.now() + 15000;
  while (!errText.includes("listening on")) {
    const r = await Promise.race([reader.read(), sleep(Math.max(1, deadline - Date.now())).then(() => null)]);
    if (!r || r.done) break;
    errText += new TextDecoder().decode(r.value);
  }
  if (!errText.includes("listening on")) {
    td.kill("SIGKILL");
    throw new Error(`tcpdump did not start: ${errText.trim()}`);
  }
  void (async () => {
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (r.done) break;
    }
  })();

  const names = ["c2.falc-test.example", "update.falc-test.example", "cdn.falc-test.example"];
  const sni = "secure.falc-test.example";
  const userAgent = "falc-test-agent/1.0";
  const splitPath = "/split/request?x=1";
  try {
    const resolver = new dns.promises.Resolver({ timeout: 3000, tries: 2 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    for (const n of names) await resolver.resolve4(n);

    // One request head written in three pieces: separate TCP segments that must be reassembled.
    await new Promise<void>((resolve, reject) => {
      const parts = [`GET ${splitPath} HTTP/1.1\r\nHo`, `st: web.falc-test.example\r\nUser-Agent: ${userAgent}\r\n`, `Accept: */*\r\n\r\n`];
      Bun.connect({
        hostname: "127.0.0.1",
        port: http.port,
        socket: {
          async open(s) {
            for (const p of parts) {
              s.write(p);
              s.flush();
              await sleep(60);
            }
          },
          data(s) { s.end(); },
          close() { resolve(); },
          error(_s, e) { reject(e); },
          connectError(_s, e) { reject(e); },
        },
      });
    });
    await fetch(`http://127.0.0.1:${http.port}/second?via=fetch`, { method: "POST", body: "a=1", headers: { "User-Agent": userAgent } }).then((r) => r.text());
    if (http6) await fetch(`http://[::1]:${http6.port}/v6`).then((r) => r.text()).catch(() => undefined);

    await new Promise<void>((resolve) => {
      Bun.connect({
        hostname: "127.0.0.1",
        port: tls.port,
        tls: { serverName: sni, rejectUnauthorized: false },
        socket: {
          open(s) { s.write("x"); },
          data() {},
          close() { resolve(); },
          error() { resolve(); },
          connectError() { resolve(); },
          handshake(s) { s.end(); },
        },
      });
    });
    await sleep(400);
  } finally {
    td.kill("SIGINT");
    await Promise.race([td.exited, sleep(5000)]);
    if (td.exitCode === null) td.kill("SIGKILL");
    udp.close();
    http.stop(true);
    http6?.stop(true);
    tls.stop(true);
  }
  return { pcap, ports: { dns: dnsPort, http: http.port, tls: tls.port, http6: http6?.port }, names, answer, sni, userAgent, splitPath };
}

let captured: Promise<CaptureResult> | undefined;
/** One loopback capture per test process, shared by the network and post-plugin tests. */
export function sharedCapture(): Promise<CaptureResult> {
  captured ??= (async () => {
    const dir = join(sampleDir(), "capture");
    mkdirSync(dir, { recursive: true });
    return captureLoopback(dir);
  })();
  return captured;
}

/** Rewrites a classic Ethernet pcap: to pcapng, or to another link type (raw IP, BSD loopback, Linux cooked). */
export function convertCapture(pcap: Uint8Array, to: "pcapng" | "raw" | "null" | "sll" | "sll2"): Uint8Array {
  const v = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const packets: { sec: number; usec: number; data: Uint8Array }[] = [];
  for (let off = 24; off + 16 <= pcap.length; ) {
    const incl = v.getUint32(off + 8, true);
    packets.push({ sec: v.getUint32(off, true), usec: v.getUint32(off + 4, true), data: pcap.subarray(off + 16, off + 16 + incl) });
    off += 16 + incl;
  }
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
  const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
  const pad4 = (b: Uint8Array) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  if (to === "pcapng") {
    const block = (type: number, body: Uint8Array) => Buffer.concat([u32(type), u32(body.length + 12), body, u32(body.length + 12)]);
    const shb = block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d), u16(1), u16(0), Buffer.alloc(8, 0xff)]));
    // if_tsresol = 9: nanosecond timestamps, so the reader must honour the option.
    const idb = block(1, Buffer.concat([u16(1), u16(0), u32(262144), u16(9), u16(1), Buffer.from([9, 0, 0, 0]), u16(0), u16(0)]));
    const epbs = packets.map((p) => {
      const ns = BigInt(p.sec) * 1_000_000_000n + BigInt(p.usec) * 1000n;
      return block(6, Buffer.concat([u32(0), u32(Number(ns >> 32n)), u32(Number(ns & 0xffffffffn)), u32(p.data.length), u32(p.data.length), pad4(p.data)]));
    });
    return Buffer.concat([shb, idb, ...epbs]);
  }
  const linktype = to === "raw" ? 101 : to === "null" ? 0 : to === "sll" ? 113 : 276;
  const header = Buffer.from(pcap.subarray(0, 24));
  header.writeUInt32LE(linktype, 20);
  const recs = packets.map((p) => {
    const ethertype = (p.data[12]! << 8) | p.data[13]!;
    const ip = p.data.subarray(14);
    let frame: Uint8Array;
    if (to === "raw") frame = ip;
    else if (to === "null") frame = Buffer.concat([u32(ethertype === 0x86dd ? 10 : 2), ip]);
    else if (to === "sll2") {
      const sll2 = Buffer.alloc(20);
      sll2.writeUInt16BE(ethertype, 0);
      sll2.writeUInt32BE(1, 4);
      sll2.writeUInt16BE(772, 8);
      sll2.writeUInt8(6, 11);
      frame = Buffer.concat([sll2, ip]);
    } else {
      const sll = Buffer.alloc(16);
      sll.writeUInt16BE(0, 0);
      sll.writeUInt16BE(772, 2);
      sll.writeUInt16BE(6, 4);
      sll.writeUInt16BE(ethertype, 14);
      frame = Buffer.concat([sll, ip]);
    }
    return Buffer.concat([u32(p.sec), u32(p.usec), u32(frame.length), u32(frame.length), frame]);
  });
  return Buffer.concat([header, ...recs]);
}
