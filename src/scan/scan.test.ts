import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadProfile, validateProfile } from "./profile.ts";
import { ownLoopback } from "../../test/scan/testkit.ts";
import { runLocalScan } from "./scan.ts";

const home = mkdtempSync(join(tmpdir(), "falc-scan-run-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe("a local run", () => {
  test("progress counts work: the sweep first, then the live targets' scans; never backwards, 1 at the end", async () => {
    const seen: number[] = [];
    const targets = ["127.0.0.1", "127.0.0.2"].map((ip) => ({ ip, family: 4 as const, hostnames: [], input: ip }));
    const s = await runLocalScan({ targets, profile: loadProfile("fast"), project: "p", mode: "update", parallel: 2, home, onProgress: (_d, _t, f) => seen.push(f) });
    expect(s.status).toBe("finished");
    expect(s.targets.map((t) => t.status)).toEqual(["up", "up"]);
    expect(seen.length).toBeGreaterThan(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]! - 1e-9);
    // The sweep alone is a tenth of the work: after it, the bar is not near done.
    expect(seen.find((f) => f > 0)!).toBeLessThanOrEqual(0.1 + 1e-9);
    expect(seen[seen.length - 1]).toBe(1);
  }, 60_000);

  test("scan.max_nmap bounds the nmap processes of a run, whatever their phase", async () => {
    // An nmap that logs when it starts and ends, so the log shows how many ran at once.
    const log = join(home, "nmap.log");
    const bin = join(home, "nmap-logged");
    writeFileSync(bin, `#!/bin/sh\necho start >> ${log}\nnmap "$@"\nrc=$?\necho end >> ${log}\nexit $rc\n`);
    chmodSync(bin, 0o755);
    const targets = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"].map((ip) => ({ ip, family: 4 as const, hostnames: [], input: ip }));
    for (const max of [1, 2]) {
      writeFileSync(log, "");
      const s = await runLocalScan({ targets, profile: { ...loadProfile("fast"), skip_host_discovery: true }, project: `m${max}`, mode: "update", parallel: 8, home, nmapBin: bin, maxNmap: max });
      expect(s.status).toBe("finished");
      let now = 0, most = 0;
      const lines = readFileSync(log, "utf8").trim().split("\n");
      for (const l of lines) most = Math.max(most, (now += l === "start" ? 1 : -1));
      expect(lines.filter((l) => l === "start").length).toBeGreaterThanOrEqual(targets.length);
      expect(most).toBe(max);
    }
  }, 120_000);

  test("targets with the same open ports share one -sV nmap: the first look announces them together", async () => {
    const log = join(home, "argv.log");
    const bin = join(home, "nmap-argv");
    writeFileSync(bin, `#!/bin/sh\necho "$*" >> ${log}\nexec nmap "$@"\n`);
    chmodSync(bin, 0o755);
    writeFileSync(log, "");
    const ips = [ownLoopback(), ownLoopback(), ownLoopback(), ownLoopback()];
    // An SSH banner at once: nmap names it without waiting out its NULL probe.
    const first = Bun.listen({ hostname: ips[0]!, port: 0, socket: { open(s) { s.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"); }, data() {} } });
    const rest = ips.slice(1).map((hostname) => Bun.listen({ hostname, port: first.port, socket: { open(s) { s.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"); }, data() {} } }));
    try {
      const targets = ips.map((ip) => ({ ip, family: 4 as const, hostnames: [], input: ip }));
      const profile = { ...validateProfile({ ports: `1,${first.port}`, service: { version_intensity: 0 } }, "t", "test"), skip_host_discovery: true };
      const s = await runLocalScan({ targets, profile, project: "shared", mode: "update", parallel: 8, home, nmapBin: bin });
      expect(s.status).toBe("finished");
      expect(s.hosts.map((h) => [h.ip, h.ports.map((p) => [p.port, p.product])]).sort()).toEqual(ips.map((ip) => [ip, [[first.port, "OpenSSH"]]]).sort() as never);
      const sv = readFileSync(log, "utf8").trim().split("\n").filter((l) => l.includes("-sV"));
      expect(sv.length).toBe(1);
      for (const ip of ips) expect(sv[0]!.split(" ")).toContain(ip);
    } finally {
      for (const l of [first, ...rest]) l.stop(true);
    }
  }, 60_000);
});
