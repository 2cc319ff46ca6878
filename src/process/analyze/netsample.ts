/**
 * A real capture for the network tests: tcpdump on loopback while this process makes DNS queries
 * (a tiny UDP DNS server here, a real resolver client), HTTP requests (one split over several TCP
 * segments, one with fetch) and TLS handshakes with SNI (a local TLS server with an openssl self-signed
 * certificate). Everything listens on free ports and is stopped afterwards.
 */
import { createSocket } from "node:dgram";
import dns from "node:dns";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { run, tool } from "./samples.ts";

export interface CaptureResult {
  pcap: string;
  ports: { dns: number; http: number; tls: number; http6?: number };
  names: string[];
  answer: string;
  sni: string;
  userAgent: string;
  splitPath: string;
}

export function captureSkipReason(): string {
  for (const t of ["tcpdump", "openssl"]) {
    const r = tool(t);
    if (!r.ok) return r.reason;
  }
  if (process.getuid?.() !== 0) return "tcpdump on lo needs root";
  return "";
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
