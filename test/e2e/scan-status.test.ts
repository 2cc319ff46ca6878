import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FALC, tempHome } from "./helpers.ts";
import { describeUnless, isRoot } from "../skip.ts";
import { createLab, type Lab } from "../scan/lab.ts";

/**
 * Truthful target status over a namespace lab: a healthy host, a host that drops every TCP reply
 * (its sweep times out), an empty address (down) and an address with no route from the scanner
 * namespace (unreachable: nmap cannot send a packet, so none leaves).
 */
let lab: Lab;
let H: { home: string; cleanup(): void };

async function falcInLab(args: string[]) {
  const p = Bun.spawn([...lab.exec, FALC, ...args], { env: { ...process.env, NO_COLOR: "1", FALC_HOME: H.home, FALC_LOG_LEVEL: "silent" }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 120_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

describeUnless(isRoot, "not root")("falc scan target status", () => {
  beforeAll(async () => {
    H = tempHome("falc-e2e-status-");
    lab = await createLab({ id: `${process.pid % 10000}st`, third: 200 + (process.pid % 50), hosts: [
      { octet: 31, listeners: [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }] },
      { octet: 32, listeners: [{ kind: "http", port: 80 }], filtered: ["all"] },
    ] });
  }, 60_000);
  afterAll(() => {
    lab?.destroy();
    H?.cleanup();
  });

  test("up, down, timed_out, unreachable: one slow host never fails another; exit 1 lists the unscanned", async () => {
    const s = lab.subnet.replace(/\.0\/24$/, "");
    const profile = join(H.home, "p.yaml");
    // All ports: the run's shared first look covers both hosts and times out on the filtered one.
    writeFileSync(profile, "ports: 1-65535\nmin_rate: 3000\nmax_retries: 1\ndiscovery_timeout_s: 8\n");
    const noRoute = "10.214.0.1";
    const r = await falcInLab(["scan", `${s}.31`, `${s}.32`, `${s}.33`, noRoute, "--profile", profile, "--project", "st", "--expect-open", "22", "--json"]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    const st = Object.fromEntries(j.targets.map((t: any) => [t.ip, t.status]));
    expect(st).toEqual({ [`${s}.31`]: "up", [`${s}.32`]: "timed_out", [`${s}.33`]: "down", [noRoute]: "unreachable" });
    expect(j.hosts.find((h: any) => h.ip === `${s}.31`).ports.map((p: any) => `${p.port}/${p.service}`)).toEqual(["22/ssh", "80/http"]);
    expect(j.status).toBe("partial");
    expect(r.stderr).toContain("2 targets not scanned");
    expect(r.stderr).toMatch(new RegExp(`${s.replace(/\./g, "\\.")}\\.32 timed_out`));
    expect(r.stderr).toMatch(/10\.214\.0\.1 unreachable: .*route/);
    // Only up and down changed the ledger: the healthy host is in, the others are not.
    const res = await falcInLab(["scan", "results", "--project", "st", "--json"]);
    expect(JSON.parse(res.stdout).map((h: any) => h.ip)).toEqual([`${s}.31`]);
  }, 120_000);

  test("--expect-open checks every up host, also one without open ports", async () => {
    const s = lab.subnet.replace(/\.0\/24$/, "");
    const r = await falcInLab(["scan", `${s}.31`, `${s}.1`, "--profile", "fast", "--project", "ex", "--expect-open", "22", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).expectations).toEqual([`${s}.1: expected open but not found: 22`]);
    const ok = await falcInLab(["scan", `${s}.31`, "--profile", "fast", "--project", "ex", "--expect-open", "22"]);
    expect(ok.code).toBe(0);
  }, 120_000);

  test("with host discovery skipped, a target without a route is unreachable, not clean", async () => {
    const profile = join(H.home, "pn.yaml");
    writeFileSync(profile, "ports: 22,80\nskip_host_discovery: true\n");
    const r = await falcInLab(["scan", "10.214.0.2", "--profile", profile, "--project", "pn", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).targets).toEqual([expect.objectContaining({ ip: "10.214.0.2", status: "unreachable", error: expect.stringMatching(/route/) })]);
  }, 60_000);
});
