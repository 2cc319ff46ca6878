import { beforeAll, describe, expect, test } from "bun:test";
import { isRoot, skipUnless } from "../../../test/skip.ts";
import { FormatError } from "./bytes.ts";
import { type CaptureResult, convertCapture, sharedCapture } from "../../../test/process/netsample.ts";
import { type NetworkSummary, analyzeCapture } from "./network.ts";
import { run } from "../../../test/process/samples.ts";

// tcpdump on lo needs root: the one reason to skip (test/skip.ts).
const capTest = skipUnless(isRoot, "not root");
let cap: CaptureResult;
let raw: Uint8Array;
beforeAll(async () => {
  // Without root the capture tests are skipped ("not root"): nothing to prepare for them.
  if (isRoot) {
    cap = await sharedCapture();
    raw = await Bun.file(cap.pcap).bytes();
  }
}, 60000);

function checkSummary(n: NetworkSummary) {
  expect(n.dns.query.map((q) => [q.name, q.type])).toEqual(cap.names.map((x) => [x, "A"]));
  expect(n.dns.response.map((r) => [r.name, r.data])).toEqual(cap.names.map((x) => [x, cap.answer]));
  expect(n.domain).toEqual(cap.names);
  expect(n.dns.query[0]).toMatchObject({ srcip: "127.0.0.1", dstip: "127.0.0.1", dstport: cap.ports.dns });
  const split = n.http.find((h) => h.request.path === cap.splitPath)!;
  expect(split.request).toMatchObject({ method: "GET", host: "web.falc-test.example", user_agent: cap.userAgent, url: `http://web.falc-test.example:${cap.ports.http}${cap.splitPath}` });
  expect(split.dstport).toBe(cap.ports.http);
  const post = n.http.find((h) => h.request.method === "POST")!;
  expect(post.request).toMatchObject({ path: "/second?via=fetch", length: 3, user_agent: cap.userAgent, url: `http://127.0.0.1:${cap.ports.http}/second?via=fetch` });
  if (cap.ports.http6) expect(n.http.some((h) => h.srcip === "::1" && h.request.path === "/v6")).toBe(true);
  expect(n.tls).toHaveLength(1);
  expect(n.tls[0]).toMatchObject({ sni: cap.sni, dstport: cap.ports.tls, srcip: "127.0.0.1" });
  const tcpToHttp = n.tcp.filter((t) => t.dstport === cap.ports.http);
  expect(tcpToHttp).toHaveLength(2);
  expect(tcpToHttp.every((t) => t.tx_size > 0 && t.rx_size > 0)).toBe(true);
  expect(n.host).toContain("127.0.0.1");
  expect(n.stats.damaged).toBe(false);
}

describe("pcap analysis", () => {
  capTest("tcpdump capture of real DNS, HTTP (split over segments) and TLS with SNI", async () => {
    const n = analyzeCapture(raw, { dnsPorts: [cap.ports.dns] });
    checkSummary(n);
    // Same packet count as tcpdump reads back.
    const listed = (await run(["tcpdump", "-r", cap.pcap, "-n", "-q"])).trim().split("\n").length;
    expect(n.stats.packets).toBe(listed);
    expect(n.stats.decoded).toBe(listed);
    // DNS is only parsed on the configured ports.
    expect(analyzeCapture(raw).dns.query).toEqual([]);
  });

  capTest("pcapng (nanosecond resolution) and other link types give the same summary", () => {
    const base = analyzeCapture(raw, { dnsPorts: [cap.ports.dns] });
    for (const kind of ["pcapng", "raw", "null", "sll", "sll2"] as const) {
      const n = analyzeCapture(convertCapture(raw, kind), { dnsPorts: [cap.ports.dns] });
      checkSummary(n);
      expect(n.stats.packets).toBe(base.stats.packets);
      expect(n.dns.query[0]!.ts).toBeCloseTo(base.dns.query[0]!.ts, 5);
    }
  });

  capTest("a cut-off capture keeps the packets before the cut; garbage is a FormatError", () => {
    const cut = analyzeCapture(raw.subarray(0, Math.floor(raw.length * 0.6)), { dnsPorts: [cap.ports.dns] });
    expect(cut.stats.damaged).toBe(true);
    expect(cut.dns.query.length).toBeGreaterThan(0);
    expect(() => analyzeCapture(new TextEncoder().encode("this is not a capture file at all"))).toThrow(FormatError);
  });

  test("reassembly: out-of-order, retransmitted and overlapping segments; stops at a gap", () => {
    const req = "GET /reassembled/path HTTP/1.1\r\nHost: order.example\r\nUser-Agent: ua-test\r\n\r\n";
    const seg = (seq: number, flags: number, data: string, sport = 40000, dport = 8080) => {
      const payload = Buffer.from(data, "latin1");
      const tcp = Buffer.alloc(20);
      tcp.writeUInt16BE(sport, 0);
      tcp.writeUInt16BE(dport, 2);
      tcp.writeUInt32BE(seq >>> 0, 4);
      tcp.writeUInt8(5 << 4, 12);
      tcp.writeUInt8(flags, 13);
      const ip = Buffer.alloc(20);
      ip.writeUInt8(0x45, 0);
      ip.writeUInt16BE(40 + payload.length, 2);
      ip.writeUInt8(64, 8);
      ip.writeUInt8(6, 9);
      Buffer.from([10, 0, 0, sport === 40000 ? 1 : 2]).copy(ip, 12);
      Buffer.from([10, 0, 0, sport === 40000 ? 2 : 1]).copy(ip, 16);
      return Buffer.concat([ip, tcp, payload]);
    };
    const isn = 0xfffffff0; // wraps around 2^32 inside the request
    const a = req.slice(0, 20);
    const b = req.slice(20, 50);
    const c = req.slice(50);
    const frames = [
      seg(isn, 0x02, ""),
      seg(isn + 1 + 20, 0x18, b),
      seg(isn + 1, 0x18, a),
      seg(isn + 1 + 20, 0x18, b), // retransmission
      seg(isn + 1 + 10, 0x18, req.slice(10, 30)), // overlap
      seg(isn + 1 + 50, 0x18, c),
      seg(isn + 1 + req.length + 100, 0x18, "GET /after-gap HTTP/1.1\r\nHost: x\r\n\r\n"),
    ];
    const hdr = Buffer.alloc(24);
    hdr.writeUInt32LE(0xa1b2c3d4, 0);
    hdr.writeUInt16LE(2, 4);
    hdr.writeUInt16LE(4, 6);
    hdr.writeUInt32LE(65535, 16);
    hdr.writeUInt32LE(101, 20);
    const recs = frames.map((f, i) => {
      const r = Buffer.alloc(16);
      r.writeUInt32LE(1700000000 + i, 0);
      r.writeUInt32LE(f.length, 8);
      r.writeUInt32LE(f.length, 12);
      return Buffer.concat([r, f]);
    });
    const n = analyzeCapture(Buffer.concat([hdr, ...recs]));
    expect(n.http.map((h) => h.request.url)).toEqual(["http://order.example:8080/reassembled/path"]);
    expect(n.http[0]!.request.user_agent).toBe("ua-test");
    expect(n.tcp[0]).toMatchObject({ srcip: "10.0.0.1", dstip: "10.0.0.2", dstport: 8080 });
  });
});
