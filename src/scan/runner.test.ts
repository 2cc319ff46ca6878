import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadProfile, validateProfile } from "./profile.ts";
import { scanTarget, ScanStopped } from "./runner.ts";
import { nmapPids, until } from "../../test/scan/procs.ts";
import { parseNmapXml, toNmapXml } from "./xml.ts";
import { runNmap, parseDiscoveredLine, parseStatsLine } from "./nmap.ts";
import { startFirstLook } from "./first-look.ts";
import { sharedServiceScans } from "./service-pool.ts";
import { phaseGates } from "./nmap-gates.ts";
import { listenPopular, ownLoopback, startListeners, type Listeners } from "../../test/scan/testkit.ts";

let L: Listeners;
let dir: string;
beforeAll(() => {
  L = startListeners();
  dir = mkdtempSync(join(tmpdir(), "falc-scan-run-"));
});
afterAll(() => {
  L.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("runner on loopback (real nmap, real listeners)", () => {
  test("phase 1 finds exactly the open ports, phase 2 names their services", async () => {
    const { http, ssh, redis } = L.ports;
    const closed = 1; // tcpmux: nothing listens on 127.0.0.1:1 here
    const profile = validateProfile({ ports: `${closed},${http},${ssh},${redis}`, service: { version_intensity: 5 } }, "t", "test");
    const notes: number[] = [];
    const r = await scanTarget({ ip: "127.0.0.1", family: 4, hostnames: [] }, { profile, workDir: dir, onProgress: (f) => notes.push(f) });
    expect(r.status).toBe("up");
    expect(r.phases.map((p) => [p.phase, p.status])).toEqual([["discovery", "done"], ["service", "done"]]);
    const ports = r.hosts[0]!.ports;
    expect(ports.map((p) => p.port).sort((a, b) => a - b)).toEqual([http, ssh, redis].sort((a, b) => a - b));
    const svc = Object.fromEntries(ports.map((p) => [p.port, p.service]));
    expect(svc[http]).toBe("http");
    expect(svc[ssh]).toBe("ssh");
    expect(svc[redis]).toBe("redis");
    expect(ports.find((p) => p.port === ssh)!.product).toBe("OpenSSH");
    expect(notes.at(-1)).toBe(1);
    // Phase 2's argv names exactly the open ports.
    const p2 = r.phases[1]!.argv;
    expect(p2[p2.indexOf("-p") + 1]!.split(":")[1]!.split(",").map(Number).sort()).toEqual([http, ssh, redis].sort());
    // The merged result round-trips through nmap-compatible XML.
    const back = parseNmapXml(toNmapXml(r.hosts));
    expect(back.hosts[0]!.ports.map((p) => [p.port, p.service])).toEqual(ports.map((p) => [p.port, p.service]));
  }, 60_000);

  test("IPv6 loopback", async () => {
    const v6 = Bun.listen({ hostname: "::1", port: 0, socket: { open(s) { s.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"); }, data() {} } });
    try {
      const profile = validateProfile({ ports: String(v6.port), skip_host_discovery: true, service: { version_intensity: 2 } }, "t", "test");
      const r = await scanTarget({ ip: "::1", family: 6, hostnames: ["localhost"] }, { profile, workDir: dir });
      expect(r.hosts.map((h) => [h.ip, h.addrtype, h.hostnames, h.ports.map((p) => [p.port, p.service])])).toEqual([["::1", "ipv6", ["localhost"], [[v6.port, "ssh"]]]]);
    } finally {
      v6.stop(true);
    }
  }, 30_000);

  test("no open ports: the host is up with no ports, the service phase is skipped", async () => {
    const profile = validateProfile({ ports: "1" }, "t", "test");
    const r = await scanTarget({ ip: "127.0.0.1", family: 4, hostnames: [] }, { profile, workDir: dir });
    expect(r.status).toBe("up");
    expect(r.hosts.map((h) => [h.ip, h.status, h.ports.length])).toEqual([["127.0.0.1", "up", 0]]);
    expect(r.phases[1]!.status).toBe("skipped");
  }, 30_000);

  test("a long port list: a first look at the likely ports, then the full sweep; services of both", async () => {
    const own = ownLoopback();
    const pop = listenPopular(own, 49152);
    const more = startListeners(own);
    try {
      const profile = validateProfile({ ports: "10000-65535", service: { version_intensity: 5 } }, "t", "test");
      const r = await scanTarget({ ip: own, family: 4, hostnames: [] }, { profile, workDir: dir });
      expect(r.status).toBe("up");
      const d = r.phases[0]!;
      expect(d.runs).toHaveLength(2);
      expect(d.runs![0]!.join(" ")).toContain("-p 10000-65535 --top-ports 5000");
      // The host answered the first look, so the full sweep does not ping it again.
      expect(d.runs![1]!).toContain("-Pn");
      expect(d.runs![1]!.join(" ")).not.toContain("--top-ports");
      expect(d.argv).toEqual(d.runs![1]!);
      const svc = Object.fromEntries(r.hosts.flatMap((h) => h.ports).map((p) => [p.port, p.service]));
      expect(svc).toEqual({ [pop.port]: "http", [more.ports.http]: "http", [more.ports.ssh]: "ssh", [more.ports.redis]: "redis" });
      expect(r.scanned.tcp).toBe("10000-65535");
    } finally {
      pop.stop();
      more.stop();
    }
  }, 90_000);

  test("targets with the same open ports share one service nmap; each gets its own host; a stopped one leaves at once", async () => {
    const [a, b] = [ownLoopback(), ownLoopback()];
    const la = listenPopular(a);
    const lb = listenPopular(b, la.port);
    try {
      const profile = validateProfile({ ports: String(la.port), service: { version_intensity: 5 } }, "t", "test");
      const pool = sharedServiceScans({ profile, workDir: dir });
      const gone = new AbortController();
      gone.abort();
      const ask = (ip: string, signal = new AbortController().signal) => pool.request({ ip, family: 4, ports: { tcp: [la.port], udp: [] }, signal });
      const [oa, ob, oc] = await Promise.all([ask(a), ask(b), ask(a, gone.signal)]);
      expect(oc.rec.status).toBe("cancelled");
      for (const [o, ip] of [[oa, a], [ob, b]] as const) {
        expect(o.rec.status).toBe("done");
        expect(o.rec.argv.slice(-3)).toEqual(["--", a, b]);
        expect(o.report!.hosts.map((h) => [h.ip, h.ports.map((p) => [p.port, p.service])])).toEqual([[ip, [[la.port, "http"]]]]);
      }
    } finally {
      la.stop();
      lb.stop();
    }
  }, 60_000);

  test("targets asking for the same ports while the service slots are taken share the nmap that starts next", async () => {
    const [a, b, c] = [ownLoopback(), ownLoopback(), ownLoopback()];
    // An SSH banner at once: nmap names it without waiting out its NULL probe (cheap to run).
    const banner = (hostname: string, port = 0) => Bun.listen({ hostname, port, socket: { open(s) { s.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"); }, data() {} } });
    const la = banner(a);
    const lb = banner(b, la.port);
    const lc = banner(c, la.port);
    try {
      const profile = validateProfile({ ports: String(la.port), service: { version_intensity: 0 } }, "t", "test");
      const slots = phaseGates({ discovery: 1, service: 1 });
      const busy = await slots("service");
      let waiting = 0;
      const pool = sharedServiceScans({ profile, workDir: dir, windowMs: 1, gate: (ph) => { waiting++; return slots(ph); } });
      const ask = (ip: string) => pool.request({ ip, family: 4, ports: { tcp: [la.port], udp: [] }, signal: new AbortController().signal });
      const oa = ask(a);
      // a's window is over and its group waits for the slot: b and c, asking later, join it.
      const deadline = Date.now() + 5_000;
      while (waiting === 0 && Date.now() < deadline) await Bun.sleep(5);
      expect(waiting).toBe(1);
      const [ob, oc] = [ask(b), ask(c)];
      busy();
      const outs = await Promise.all([oa, ob, oc]);
      expect(waiting).toBe(1);
      for (const [o, ip] of [[outs[0]!, a], [outs[1]!, b], [outs[2]!, c]] as const) {
        expect(o.rec.status).toBe("done");
        expect(o.rec.argv.slice(-4)).toEqual(["--", a, b, c]);
        expect(o.report!.hosts.map((h) => [h.ip, h.ports.map((p) => p.product)])).toEqual([[ip, ["OpenSSH"]]]);
      }
    } finally {
      for (const l of [la, lb, lc]) l.stop(true);
    }
  }, 60_000);

  test("a local run's first look: one nmap for all targets, announced ports handed to each", async () => {
    const [a, b] = [ownLoopback(), ownLoopback()];
    const la = listenPopular(a, 49152);
    const lb = listenPopular(b, 49153);
    try {
      const profile = validateProfile({ ports: "10000-65535", skip_host_discovery: true }, "t", "test");
      // UDP gets no first look (its pace is the targets' ICMP rate limits); a short TCP list does.
      expect(startFirstLook([{ ip: a, family: 4 }], { profile: loadProfile("udp"), workDir: dir })).toBeNull();
      expect(startFirstLook([{ ip: a, family: 4 }], { profile: validateProfile({ ports: "1-9000" }, "t", "test"), workDir: dir })).not.toBeNull();
      const look = startFirstLook([{ ip: a, family: 4 }, { ip: b, family: 4 }], { profile, workDir: dir })!;
      expect(look.watch("127.0.0.1", () => {})).toBeNull();
      const seen: Record<string, number[]> = { [a]: [], [b]: [] };
      const [oa, ob] = await Promise.all([a, b].map((ip) => look.watch(ip, (_proto, port) => seen[ip]!.push(port))!));
      expect(seen).toEqual({ [a]: [49152], [b]: [49153] });
      // One nmap for both, targets from a file it was given.
      expect(oa!.rec.argv).toBe(ob!.rec.argv);
      expect(oa!.rec.argv.join(" ")).toMatch(/--top-ports 5000 -iL \S+likely-0\.txt$/);
      // A later watcher gets what was announced before it came.
      const late: number[] = [];
      await look.watch(a, (_proto, port) => late.push(port));
      expect(late).toEqual([49152]);
      // Chunks of targets: one nmap each, started by the first watch of one of its targets.
      const two = startFirstLook([{ ip: a, family: 4 }, { ip: b, family: 4 }], { profile, workDir: dir, chunk: 1 })!;
      const [ca, cb] = await Promise.all([two.watch(a, () => {})!, two.watch(b, () => {})!]);
      expect(ca.rec.argv).not.toEqual(cb.rec.argv);
      expect(cb.report!.hosts.map((h) => [h.ip, h.ports.map((p) => p.port)])).toEqual([[b, [49153]]]);
      expect(oa!.report!.hosts.map((h) => [h.ip, h.ports.map((p) => p.port)])).toEqual([[a, [49152]]]);
      expect(ob!.report!.hosts.map((h) => [h.ip, h.ports.map((p) => p.port)])).toEqual([[b, [49153]]]);
      expect(oa!.report!.hostsUp).toBe(1);
    } finally {
      la.stop();
      lb.stop();
    }
  }, 60_000);

  test("cancel stops nmap's process group within a second and reports the phase", async () => {
    // A slow full-range connect scan, so it is surely running when cancelled.
    const profile = validateProfile({ ports: "1-65535", tcp_scan: "connect", max_rate: 50 }, "t", "test");
    const ac = new AbortController();
    const p = scanTarget({ ip: "127.0.0.1", family: 4, hostnames: [] }, { profile, workDir: dir, signal: ac.signal });
    await until(() => nmapPids(dir).length > 0, "nmap running");
    const t0 = Date.now();
    ac.abort();
    const e = await p.catch((x) => x);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e).toBeInstanceOf(ScanStopped);
    expect((e as ScanStopped).partial.status).toBe("cancelled");
    expect((e as ScanStopped).partial.phases[0]!.status).toBe("cancelled");
    expect(nmapPids(dir)).toEqual([]);
  }, 30_000);

  test("a phase timeout stops nmap and says which phase", async () => {
    const profile = validateProfile({ ports: "1-65535", tcp_scan: "connect", max_rate: 50, discovery_timeout_s: 1 }, "t", "test");
    const e = await scanTarget({ ip: "127.0.0.1", family: 4, hostnames: [] }, { profile, workDir: dir }).catch((x) => x);
    expect(e).toBeInstanceOf(ScanStopped);
    expect((e as Error).message).toMatch(/discovery of 127.0.0.1 timed out after 1s/);
  }, 30_000);
});

describe("nmap XML parser", () => {
  test("real XML, truncated XML and garbage", async () => {
    const x = join(dir, "real.xml");
    const r = await runNmap(["-oX", x, "-n", "-Pn", "-sT", "-p", String(L.ports.http), "--", "127.0.0.1"], { timeoutS: 30 });
    expect(r.code).toBe(0);
    const text = readFileSync(x, "utf8");
    const rep = parseNmapXml(text);
    expect(rep.hosts[0]!.ip).toBe("127.0.0.1");
    expect(rep.hosts[0]!.ports[0]!.state).toBe("open");
    expect(rep.scanned.tcp).toBe(String(L.ports.http));
    expect(rep.finishedAt).toBeGreaterThan(0);
    expect(rep.hostsUp).toBe(1);
    // With --open a host without open ports is left out, but runstats still counts it up.
    const x2 = join(dir, "none-open.xml");
    expect((await runNmap(["-oX", x2, "--open", "-n", "-Pn", "-sT", "-p", "1", "--", "127.0.0.1"], { timeoutS: 30 })).code).toBe(0);
    const none = parseNmapXml(readFileSync(x2, "utf8"));
    expect([none.hosts.length, none.hostsUp]).toEqual([0, 1]);
    expect(() => parseNmapXml(text.slice(0, Math.floor(text.length * 0.7)))).toThrow(/truncated or malformed XML/);
    expect(() => parseNmapXml("not xml at all <<<")).toThrow(/malformed XML|truncated/);
    expect(() => parseNmapXml("")).toThrow(/empty/);
    expect(() => parseNmapXml("<?xml version=\"1.0\"?><html></html>")).toThrow(/no <nmaprun>/);
    // A stored real run parses the same way (the checkout is never written by tests).
    const stored = parseNmapXml(readFileSync(join(fixtures, "loopback-http.xml"), "utf8"));
    expect(stored.hosts[0]!.ports.map((p) => p.state)).toEqual(["open"]);
  }, 30_000);
  test("announced open ports", () => {
    expect(parseDiscoveredLine("Discovered open port 80/tcp on 10.0.0.5")).toEqual({ proto: "tcp", port: 80, ip: "10.0.0.5" });
    expect(parseDiscoveredLine("Discovered open port 53/udp on ns.example (2001:db8::1)")).toEqual({ proto: "udp", port: 53, ip: "2001:db8::1" });
    expect(parseDiscoveredLine("Discovered filtered port 80/tcp on 10.0.0.5")).toBeNull();
  });
  test("stats lines become progress", () => {
    expect(parseStatsLine("SYN Stealth Scan Timing: About 45.50% done; ETC: 02:40 (0:00:05 remaining)")).toEqual({ fraction: 0.455, note: "SYN Stealth Scan" });
    expect(parseStatsLine("Stats: 0:00:01 elapsed")).toBeNull();
  });
});

const fixtures = join(import.meta.dir, "../../fixtures/scan");
