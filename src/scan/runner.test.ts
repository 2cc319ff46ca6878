import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateProfile } from "./profile.ts";
import { scanTarget, ScanStopped } from "./runner.ts";
import { parseNmapXml, toNmapXml } from "./xml.ts";
import { runNmap, parseStatsLine } from "./nmap.ts";
import { startListeners, type Listeners } from "./testkit.ts";

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
    expect(r.status).toBe("finished");
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

  test("no open ports: the service phase is skipped", async () => {
    const profile = validateProfile({ ports: "1" }, "t", "test");
    const r = await scanTarget({ ip: "127.0.0.1", family: 4, hostnames: [] }, { profile, workDir: dir });
    expect(r.hosts).toEqual([]);
    expect(r.phases[1]!.status).toBe("skipped");
  }, 30_000);

  test("cancel stops nmap's process group within a second and reports the phase", async () => {
    // A slow full-range connect scan, so it is surely running when cancelled.
    const profile = validateProfile({ ports: "1-65535", tcp_scan: "connect", max_rate: 50 }, "t", "test");
    const ac = new AbortController();
    const p = scanTarget({ ip: "127.0.0.1", family: 4, hostnames: [] }, { profile, workDir: dir, signal: ac.signal });
    await Bun.sleep(700);
    const t0 = Date.now();
    ac.abort();
    const e = await p.catch((x) => x);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e).toBeInstanceOf(ScanStopped);
    expect((e as ScanStopped).partial.status).toBe("cancelled");
    expect((e as ScanStopped).partial.phases[0]!.status).toBe("cancelled");
    const left = Bun.spawnSync(["pgrep", "-f", `max-rate 50 .*1-65535`]).stdout.toString().trim();
    expect(left).toBe("");
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
    expect(() => parseNmapXml(text.slice(0, Math.floor(text.length * 0.7)))).toThrow(/truncated or malformed XML/);
    expect(() => parseNmapXml("not xml at all <<<")).toThrow(/malformed XML|truncated/);
    expect(() => parseNmapXml("")).toThrow(/empty/);
    expect(() => parseNmapXml("<?xml version=\"1.0\"?><html></html>")).toThrow(/no <nmaprun>/);
    // A stored real run parses the same way (the checkout is never written by tests).
    const stored = parseNmapXml(readFileSync(join(fixtures, "loopback-http.xml"), "utf8"));
    expect(stored.hosts[0]!.ports.map((p) => p.state)).toEqual(["open"]);
  }, 30_000);
  test("stats lines become progress", () => {
    expect(parseStatsLine("SYN Stealth Scan Timing: About 45.50% done; ETC: 02:40 (0:00:05 remaining)")).toEqual({ fraction: 0.455, note: "SYN Stealth Scan" });
    expect(parseStatsLine("Stats: 0:00:01 elapsed")).toBeNull();
  });
});

const fixtures = join(import.meta.dir, "../../fixtures/scan");
