import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FALC, tempHome, waitFor } from "./helpers.ts";
import { describeUnless, isRoot } from "../skip.ts";
import { nmapPids } from "../scan/procs.ts";
import { createLab, type Lab } from "../scan/lab.ts";
import { Ledger } from "../../src/scan/ledger.ts";
import { targetTaskId } from "../../src/scan/sweep-task.ts";

/**
 * `falc scan --submit` over a namespace lab /24: one host sweep task, then a task per live host
 * only; findings and the run's record equal the local form's. Workers run in the scanner namespace.
 */
let lab: Lab;
let H: { home: string; cleanup(): void };
let worker: ReturnType<typeof Bun.spawn> | undefined;
let profile: string;

const env = () => ({ ...process.env, NO_COLOR: "1", FALC_HOME: H.home, FALC_LOG_LEVEL: "silent" });
async function falcInLab(args: string[]) {
  const p = Bun.spawn([...lab.exec, FALC, ...args], { env: env(), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 120_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}
const startWorker = (lease: number) => Bun.spawn([...lab.exec, FALC, "worker", "--stage", "scan", "--count", "scan=2", "--no-health", "--no-tui", "--lease", String(lease), "--grace", "1"], { env: env(), stdin: "ignore", stdout: "ignore", stderr: "ignore" });
async function stopWorker() {
  const w = worker;
  worker = undefined;
  w?.kill("SIGTERM");
  const t = setTimeout(() => w?.kill("SIGKILL"), 20_000);
  await w?.exited;
  clearTimeout(t);
}
type TaskRow = { id: string; status: string; payload: { target?: string; targets?: string[]; run_id?: string } };
const scanTasks = async (runId: string): Promise<TaskRow[]> =>
  (JSON.parse((await falcInLab(["tasks", "list", "--stage", "scan", "--limit", "1000", "--json"])).stdout) as TaskRow[]).filter((t) => t.payload.run_id === runId);
const findings = async (project: string) =>
  (await falcInLab(["scan", "results", "--project", project, "--format", "ndjson"])).stdout.trim().split("\n").map((l) => {
    const r = JSON.parse(l);
    return `${r.ip} ${r.proto}/${r.port} ${r.state} ${r.service} ${r.product ?? ""} ${r.version ?? ""}`;
  }).sort();
const runOf = (id: string) => {
  const l = Ledger.open(H.home);
  try {
    return l.run(id);
  } finally {
    l.close();
  }
};

describeUnless(isRoot, "not root")("falc scan --submit shares the host sweep", () => {
  beforeAll(async () => {
    H = tempHome("falc-e2e-sweep-");
    lab = await createLab({ id: `${process.pid % 10000}sw`, third: 150 + (process.pid % 40), hosts: [
      { octet: 41, listeners: [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }] },
      { octet: 42, listeners: [{ kind: "ssh", port: 2222 }] },
      { octet: 43, listeners: [] },
    ] });
    profile = join(H.home, "p.yaml");
    writeFileSync(profile, "ports: 22,80,2222\nmin_rate: 1000\nmax_retries: 1\nservice:\n  version_intensity: 2\n");
  }, 60_000);
  afterAll(async () => {
    await stopWorker();
    lab?.destroy();
    H?.cleanup();
  });

  test("a /24 queues 1 sweep task + 1 task per live host; findings and the run equal the local form's; down is recorded as down", async () => {
    const local = await falcInLab(["scan", lab.subnet, "--profile", profile, "--project", "local", "--json"]);
    expect(local.code).toBe(0);
    const L = JSON.parse(local.stdout);
    const up = L.targets.filter((t: any) => t.status === "up").map((t: any) => t.ip).sort();
    const down = L.targets.filter((t: any) => t.status === "down").length;
    // The three lab hosts and the scanner's own bridge address; every other address is down.
    expect(up.length).toBe(4);
    expect(down).toBe(L.targets.length - 4);

    const sub = await falcInLab(["scan", lab.subnet, "--profile", profile, "--project", "queue", "--submit", "--json"]);
    expect(sub.code).toBe(0);
    const S = JSON.parse(sub.stdout);
    expect(S.tasks).toEqual([{ id: S.sweep, target: `${L.targets.length} targets (host sweep)` }]);
    worker = startWorker(30);
    const final = (s: string) => ["finished", "failed", "cancelled"].includes(s);
    const tasks = await waitFor(async () => {
      const ts = await scanTasks(S.run);
      return ts.length === 1 + up.length && ts.every((t) => final(t.status)) ? ts : null;
    }, 90_000, 200, "the sweep and its target tasks done");
    expect(tasks.filter((t) => t.payload.targets).map((t) => t.id)).toEqual([S.sweep]);
    expect(tasks.filter((t) => t.payload.target).map((t) => t.id).sort()).toEqual(up.map((ip: string) => targetTaskId(S.run, ip)).sort());
    expect(tasks.every((t) => t.status === "finished")).toBe(true);
    const sweep = JSON.parse((await falcInLab(["tasks", "show", S.sweep, "--json"])).stdout);
    expect(sweep.result).toMatchObject({ up: up.length, down, not_scanned: 0 });

    expect(await findings("queue")).toEqual(await findings("local"));
    expect((await findings("local")).length).toBe(3);
    // The run's record: every target (the down ones too), finished, the same hosts.
    const q = runOf(S.run), l = runOf(L.runId);
    expect(q.targets).toEqual(l.targets);
    expect(q.status).toBe("finished");
    expect(q.hosts.map((h) => h.ip).sort()).toEqual(l.hosts.map((h) => h.ip).sort());
    await stopWorker();
  }, 150_000);

  test("a worker killed mid-sweep and restarted queues each live host's task once", async () => {
    const sub = await falcInLab(["scan", lab.subnet, "--profile", profile, "--project", "crash", "--submit", "--json"]);
    const S = JSON.parse(sub.stdout);
    worker = startWorker(2);
    const sweeping = () => nmapPids(H.home).filter((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes("-sn"));
    await waitFor(() => sweeping().length > 0, 30_000, 10, "the host sweep running");
    // The worker's child runs the task in its own process group: kill it outright, as a crash would.
    const children = childrenOf(worker.pid).filter((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes("--child"));
    expect(children.length).toBeGreaterThan(0);
    for (const c of children) process.kill(-c, "SIGKILL");
    await stopWorker();
    await waitFor(() => sweeping().length === 0, 5_000, 20, "no sweep left");
    expect((await scanTasks(S.run)).find((t) => t.id === S.sweep)!.status).not.toBe("finished");
    worker = startWorker(2);
    const tasks = await waitFor(async () => {
      const ts = await scanTasks(S.run);
      return ts.length >= 5 && ts.every((t) => t.status === "finished") ? ts : null;
    }, 90_000, 200, "the sweep, run again, and its target tasks done");
    expect(tasks.filter((t) => t.payload.target).length).toBe(4);
    expect(new Set(tasks.map((t) => t.payload.target ?? "sweep")).size).toBe(5);
    expect(await findings("crash")).toEqual(await findings("local"));
    await stopWorker();
  }, 150_000);
});

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {}
  }
  return out;
}
