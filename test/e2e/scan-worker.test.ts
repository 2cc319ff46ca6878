import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFalc, tempHome, waitFor } from "./helpers.ts";
import { startWorker, tasksJson, type WorkerProc } from "./worker-helpers.ts";
import { startListeners, type Listeners } from "../scan/testkit.ts";
import { nmapPids } from "../scan/procs.ts";

let H: { home: string; cleanup(): void };
let w: WorkerProc | undefined;
let L: Listeners;
beforeAll(() => {
  H = tempHome("falc-e2e-scanw-");
  L = startListeners();
});
afterAll(async () => {
  await w?.stop();
  L.stop();
  H.cleanup();
});

describe("falc scan through falc worker --stage scan", () => {
  test("--submit queues one task per target; a worker scans into the ledger; cancel stops nmap within a second", async () => {
    w = await startWorker(H.home, ["--stage", "scan", "--count", "scan=2", "--lease", "1"]);
    const env = { FALC_HOME: H.home };
    const quick = join(H.home, "quick.yaml");
    writeFileSync(quick, `ports: ${L.ports.ssh}\nskip_host_discovery: true\nservice:\n  version_intensity: 2\n`);
    const sub = await runFalc(["scan", "127.0.0.1", "--profile", quick, "--project", "w", "--submit", "--json"], { env });
    expect(sub.code).toBe(0);
    const id = JSON.parse(sub.stdout).tasks[0].id;
    const done = await waitFor(async () => (await tasksJson(H.home)).find((t) => t.id === id && ["finished", "failed"].includes(t.status)), 60_000, 200, "scan task done");
    expect(done.status).toBe("finished");
    const res = await runFalc(["scan", "results", "--project", "w", "--format", "ndjson"], { env });
    expect(JSON.parse(res.stdout.trim())).toMatchObject({ ip: "127.0.0.1", port: L.ports.ssh, service: "ssh" });

    const slow = join(H.home, "slow.yaml");
    writeFileSync(slow, "ports: 1-65535\ntcp_scan: connect\nmax_rate: 50\nskip_host_discovery: true\n");
    const sub2 = await runFalc(["scan", "127.0.0.1", "--profile", slow, "--project", "w", "--submit", "--json"], { env });
    const id2 = JSON.parse(sub2.stdout).tasks[0].id;
    await waitFor(() => nmapPids(H.home).length > 0, 20_000, 50, "nmap running");
    // A second submit of the same target (whatever the profile) is refused at submit while the first runs.
    const sub3 = await runFalc(["scan", "127.0.0.1", "--profile", "fast", "--project", "w", "--submit", "--json"], { env });
    expect(sub3.code).toBe(1);
    expect(JSON.parse(sub3.stdout)).toMatchObject({ tasks: [], busy: ["127.0.0.1"] });
    expect(sub3.stderr).toContain("127.0.0.1 already has a scan queued or running");

    // An unknown profile in a queued task fails at once: one attempt, no retries.
    const bad = await runFalc(["tasks", "submit", "scan", "--payload", JSON.stringify({ target: "127.0.0.4", profile: "nosuch" }), "--max-attempts", "3", "--json"], { env });
    expect(bad.code).toBe(0);
    const badId = (JSON.parse(bad.stdout).id ?? JSON.parse(bad.stdout)[0]?.id ?? JSON.parse(bad.stdout).tasks?.[0]?.id) as string;
    const tb = await waitFor(async () => (await tasksJson(H.home)).find((t) => t.id === badId && t.status === "failed"), 20_000, 100, "bad profile task failed");
    expect(tb.attempts).toBe(1);
    expect(tb.error!.message).toMatch(/unknown profile `nosuch`/);

    const c = await runFalc(["tasks", "cancel", id2], { env });
    expect(c.code).toBe(0);
    const t0 = Date.now();
    await waitFor(() => nmapPids(H.home).length === 0, 5_000, 20, "nmap gone");
    expect(Date.now() - t0).toBeLessThan(1000);
    const t2 = await waitFor(async () => (await tasksJson(H.home)).find((t) => t.id === id2), 5_000);
    expect(t2.status).toBe("cancelled");
  }, 150_000);

  for (const how of ["SIGTERM", "SIGKILL"] as const) {
    test(`a worker stopped by ${how} leaves no nmap behind before its task is handed out again`, async () => {
      await w?.stop();
      w = await startWorker(H.home, ["--stage", "scan", "--count", "scan=1", "--lease", "2", "--grace", "1"]);
      const env = { FALC_HOME: H.home };
      const slow = join(H.home, `slow-${how}.yaml`);
      writeFileSync(slow, "ports: 1-65535\ntcp_scan: connect\nmax_rate: 50\nskip_host_discovery: true\n");
      const sub = await runFalc(["scan", how === "SIGTERM" ? "127.0.0.2" : "127.0.0.3", "--profile", slow, "--project", "stop", "--submit", "--json"], { env });
      expect(sub.stderr).toBe("");
      const id = JSON.parse(sub.stdout).tasks[0].id;
      await waitFor(() => nmapPids(H.home).length > 0, 20_000, 50, "nmap running");
      if (how === "SIGTERM") await w.stop("SIGTERM");
      else {
        // The child is killed outright (as a handler does past a grace): nmap dies with its group.
        const child = (await w.health()).workers.find((x) => x.pid)!.pid!;
        process.kill(-child, "SIGKILL");
        await waitFor(() => nmapPids(H.home).length === 0, 3_000, 20, "nmap gone with the child's group");
        await w.stop("SIGTERM");
      }
      w = undefined;
      expect(nmapPids(H.home)).toEqual([]);
      // The task is back in the queue (or, for SIGKILL, will be once its lease expires) with no nmap of it running.
      const t = await waitFor(async () => (await tasksJson(H.home)).find((x) => x.id === id && x.status === "queued"), 10_000, 100, "task requeued");
      expect(t.status).toBe("queued");
      expect(nmapPids(H.home)).toEqual([]);
      await runFalc(["tasks", "cancel", id], { env });
    }, 60_000);
  }
});
