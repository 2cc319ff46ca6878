import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FALC, runFalc, tempHome, waitFor } from "./helpers.ts";
import { startListeners, type Listeners } from "../scan/testkit.ts";
import { parseNmapXml } from "../../src/scan/xml.ts";

let L: Listeners;
let H: { home: string; cleanup(): void };
let env: Record<string, string>;
let profile: string;

beforeAll(() => {
  L = startListeners();
  H = tempHome("falc-e2e-scan-");
  env = { FALC_HOME: H.home, FALC_LOG_LEVEL: "silent" };
  profile = join(H.home, "lo.yaml");
  writeFileSync(profile, `ports: 1,${L.ports.http},${L.ports.ssh}\nservice:\n  version_intensity: 5\n`);
});
afterAll(() => {
  L.stop();
  H.cleanup();
});

describe("falc scan on loopback (real nmap)", () => {
  test("finds the listeners with their services, fills the ledger, exports every format", async () => {
    const r = await runFalc(["scan", "127.0.0.1", "--profile", profile, "--project", "lo", "--json"], { env, timeoutMs: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe("finished");
    expect(j.targets[0].phases.map((p: any) => p.status)).toEqual(["done", "done"]);
    const svc = Object.fromEntries(j.hosts[0].ports.map((p: any) => [p.port, p.service]));
    expect(svc).toEqual({ [L.ports.http]: "http", [L.ports.ssh]: "ssh" });

    const table = await runFalc(["scan", "results", "--project", "lo"], { env });
    expect(table.stdout).toContain(`${L.ports.ssh}/tcp`);
    expect(table.stdout).toContain("OpenSSH 9.2p1");
    const csv = await runFalc(["scan", "results", "--project", "lo", "--format", "csv"], { env });
    expect(csv.stdout.split("\n")[0]).toBe("ip,hostnames,proto,port,state,service,product,version,extrainfo");
    const nd = await runFalc(["scan", "results", "--project", "lo", "--format", "ndjson"], { env });
    expect(nd.stdout.trim().split("\n").map((l) => JSON.parse(l).service).sort()).toEqual(["http", "ssh"]);
    const xml = await runFalc(["scan", "results", "--project", "lo", "--format", "xml"], { env });
    expect(parseNmapXml(xml.stdout).hosts[0]!.ports.length).toBe(2);
  }, 90_000);

  test("--expect-open / --fail-on-new give CI exit codes", async () => {
    const { http, ssh } = L.ports;
    const ok = await runFalc(["scan", "127.0.0.1", "--profile", profile, "--project", "ci", "--expect-open", `${http},${ssh}`, "--fail-on-new"], { env, timeoutMs: 60_000 });
    expect(ok.code).toBe(0);
    const extra = await runFalc(["scan", "127.0.0.1", "--profile", profile, "--project", "ci", "--expect-open", `${ssh}`, "--fail-on-new"], { env, timeoutMs: 60_000 });
    expect(extra.code).toBe(1);
    expect(extra.stderr).toContain(`open but not expected: ${http}/tcp`);
    const missing = await runFalc(["scan", "127.0.0.1", "--profile", profile, "--project", "ci", "--expect-open", `${ssh},1`], { env, timeoutMs: 60_000 });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("expected open but not found: 1");
    // Three runs: the diff of the last two is empty.
    const d = await runFalc(["scan", "diff", "--project", "ci", "--json"], { env });
    expect(d.code).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ opened: [], closed: [], changed: [] });
  }, 120_000);

  test("injection attempts, bad profiles and out-of-scope targets are refused with one clear line, exit 2", async () => {
    const cases: [string[], RegExp][] = [
      [["scan", "--", "--script=vuln"], /begins with `-`/],
      [["scan", "--", "-iL", "/etc/shadow"], /begins with `-`/],
      [["scan", "--", "-oN", "/tmp/x"], /begins with `-`/],
      [["scan", "127.0.0.1;id"], /character not allowed/],
      [["scan", "127.0.0.1 -oN /tmp/x"], /whitespace/],
      [["scan", "10.0.0.0/8"], /over the limit of 65536/],
      [["scan", "--targets-file", "/etc/shadow"], /line 1: not a target/],
      [["scan", "127.0.0.1", "--profile", "nope"], /unknown profile `nope`/],
    ];
    const bad = join(H.home, "bad.yaml");
    writeFileSync(bad, "ports: 22\nscript: vuln\n");
    cases.push([["scan", "127.0.0.1", "--profile", bad], /unknown field `script`/]);
    for (const [args, re] of cases) {
      const r = await runFalc(args, { env });
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.code).toBe(2);
    }
    const cfg = join(H.home, "scope.yaml");
    writeFileSync(cfg, "scope:\n  allow: [10.99.0.0/16]\n");
    const s = await runFalc(["scan", "127.0.0.1", "--config", cfg], { env });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain("refused 1 target (1 out_of_scope):\nfalc:   127.0.0.1 (out_of_scope): not inside any scope.allow range");
  }, 60_000);

  test("--upload posts the merged XML to a ScanLedger-style API, retrying a 503", async () => {
    const hits: { path: string; mode: string | null; auth: string | null; file: string }[] = [];
    const api = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const u = new URL(req.url);
        const form = await req.formData();
        hits.push({ path: u.pathname, mode: u.searchParams.get("mode"), auth: req.headers.get("authorization"), file: await (form.get("file") as Blob).text() });
        return hits.length === 1 ? new Response("busy", { status: 503 }) : Response.json({ imported: 1 });
      },
    });
    try {
      const r = await runFalc(["scan", "127.0.0.1", "--profile", profile, "--project", "up", "--mode", "replace", "--upload", `http://127.0.0.1:${api.port}/api`, "--token", "t0k", "--json"], { env, timeoutMs: 60_000 });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).uploaded).toEqual({ status: 200, attempts: 2 });
      expect(hits[1]).toMatchObject({ path: "/api/projects/up/ips/import", mode: "replace", auth: "Bearer t0k" });
      expect(parseNmapXml(hits[1]!.file).hosts[0]!.ports.length).toBe(2);
    } finally {
      api.stop(true);
    }
  }, 60_000);

  test("scan schedule add | list | run-now | rm", async () => {
    const add = await runFalc(["scan", "schedule", "add", "127.0.0.1", "127.0.0.2", "--every", "6h", "--profile", profile, "--id", "nightly", "--max-concurrent", "1", "--json"], { env });
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ id: "nightly", everyS: 21600, maxConcurrent: 1 });
    const list = await runFalc(["scan", "schedule", "list"], { env });
    expect(list.stdout).toMatch(/nightly\s+6h\s+127\.0\.0\.1 127\.0\.0\.2\s+lo/);
    const now = await runFalc(["scan", "schedule", "run-now", "nightly", "--json"], { env });
    expect(JSON.parse(now.stdout)).toMatchObject({ enqueued: [{ ip: "127.0.0.1" }], skipped: [{ ip: "127.0.0.2", why: "cap" }] });
    const again = await runFalc(["scan", "schedule", "run-now", "nightly", "--json"], { env });
    expect(JSON.parse(again.stdout).enqueued).toEqual([]);
    expect((await runFalc(["scan", "schedule", "rm", "nightly"], { env })).code).toBe(0);
    expect((await runFalc(["scan", "schedule", "rm", "nightly"], { env })).code).toBe(1);
    const bad = await runFalc(["scan", "schedule", "add", "127.0.0.1", "--every", "5s"], { env });
    expect(bad.code).toBe(2);
  }, 30_000);

  test("SIGINT during a local scan stops nmap within a second and records the run as cancelled", async () => {
    const slow = join(H.home, "slow.yaml");
    writeFileSync(slow, "ports: 1-65535\ntcp_scan: connect\nmax_rate: 50\nskip_host_discovery: true\n");
    const p = Bun.spawn([FALC, "scan", "127.0.0.1", "--profile", slow, "--project", "cancel", "--json"], { env: { ...process.env, ...env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    const nmapChildren = () => Bun.spawnSync(["pgrep", "-P", String(p.pid), "nmap"]).stdout.toString().trim();
    await waitFor(() => nmapChildren() !== "", 20_000, 50, "nmap started");
    const pid = Number(nmapChildren().split("\n")[0]);
    const t0 = Date.now();
    p.kill("SIGINT");
    await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 5_000, 20, "nmap gone");
    // TERM then KILL after the grace: well within a second on an idle machine; the bound leaves room for a loaded CI.
    expect(Date.now() - t0).toBeLessThan(3000);
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code).toBe(1);
    const j = JSON.parse(out);
    expect(j.status).toBe("cancelled");
    expect(j.targets[0]).toMatchObject({ ip: "127.0.0.1", status: "cancelled", phases: [{ phase: "discovery", status: "cancelled" }] });
  }, 30_000);
});
