import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FALC, tempHome } from "./helpers.ts";
import { describeUnless } from "../skip.ts";
import { createLab, type Lab } from "../scan/lab.ts";

/** The lab: hosts in their own network namespaces on a private /24; falc runs inside the scanner namespace. */
const root = typeof process.getuid === "function" && process.getuid() === 0;
let lab: Lab;
let H: { home: string; cleanup(): void };

async function falcInLab(args: string[], timeoutMs = 120_000) {
  const p = Bun.spawn([...lab.exec, FALC, ...args], { env: { ...process.env, NO_COLOR: "1", FALC_HOME: H.home, FALC_LOG_LEVEL: "silent" }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

describeUnless(root, "not root")("falc scan over the namespace lab /24", () => {
  beforeAll(async () => {
    H = tempHome("falc-e2e-lab-");
    lab = await createLab();
  }, 60_000);
  afterAll(() => {
    lab?.destroy();
    H?.cleanup();
    const left = Bun.spawnSync(["ip", "netns", "list"]).stdout.toString();
    expect(left).not.toContain(lab.prefix);
  });

  test("finds exactly the listeners with the right service names", async () => {
    const profile = join(H.home, "lab.yaml");
    writeFileSync(profile, "ports: 21,22,80,443,2222,3306,6379,8080\nmin_rate: 1000\nservice:\n  version_intensity: 5\n");
    const r = await falcInLab(["scan", lab.subnet, "--profile", profile, "--project", "lab", "--parallel", "4", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const found = j.hosts.flatMap((h: any) => h.ports.map((p: any) => `${h.ip}:${p.port}/${p.service}`)).sort();
    const s = lab.subnet.replace(/\.0\/24$/, "");
    expect(found).toEqual([`${s}.11:22/ssh`, `${s}.11:80/http`, `${s}.12:6379/redis`, `${s}.13:2222/ssh`, `${s}.13:8080/http`].sort());
    // Every address of the /24 is truthfully up or down: the four hosts and the scanner's bridge are up.
    expect(j.targets.filter((t: any) => t.status === "up").map((t: any) => t.ip).sort()).toEqual([`${s}.11`, `${s}.12`, `${s}.13`, `${s}.14`].concat([`${s}.1`]).sort());
    expect(j.targets.filter((t: any) => t.status !== "up" && t.status !== "down")).toEqual([]);
    const redis = j.hosts.find((h: any) => h.ip === `${s}.12`).ports[0];
    expect(redis.product).toMatch(/Redis/);
  }, 150_000);

  test("all 65535 ports: one first look at the likely ports, shared service scans, the same findings", async () => {
    const profile = join(H.home, "full.yaml");
    writeFileSync(profile, "ports: 1-65535\nmin_rate: 5000\nmax_retries: 1\nservice:\n  version_intensity: 5\n");
    const r = await falcInLab(["scan", lab.subnet, "--profile", profile, "--project", "lab-full", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const s = lab.subnet.replace(/\.0\/24$/, "");
    const found = j.hosts.flatMap((h: any) => h.ports.map((p: any) => `${h.ip}:${p.port}/${p.service}`)).sort();
    expect(found).toEqual([`${s}.11:22/ssh`, `${s}.11:80/http`, `${s}.12:6379/redis`, `${s}.13:2222/ssh`, `${s}.13:8080/http`].sort());
    const t11 = j.targets.find((t: any) => t.ip === `${s}.11`);
    // The likely ports of every live host in one nmap, then each host's full sweep.
    expect(t11.phases[0].runs[0]).toEqual(expect.arrayContaining(["--top-ports", "5000", "-iL"]));
    expect(j.targets.find((t: any) => t.ip === `${s}.12`).phases[0].runs[0]).toEqual(t11.phases[0].runs[0]);
    expect(t11.phases[0].argv.slice(-2)).toEqual(["--", `${s}.11`]);
  }, 150_000);
});
