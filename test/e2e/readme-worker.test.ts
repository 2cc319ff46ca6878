import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FALC, runFalc, tempHome, waitFor, watchFalc } from "./helpers.ts";
import { startWorker, submit, tasksJson, TEST_STAGE, type WorkerProc } from "./worker-helpers.ts";

// README "Workers and tasks" sentences no other test holds to their numbers: `--health-port 0` takes
// any free port, every metric the README names is served (falc_queue_tasks counting the queue), the
// lease is 30 s by default, and a run past its timeout gets SIGTERM, then SIGKILL 2 s later, and goes
// back to the queue with the attempt counted.
const T = tempHome("falc-e2e-readme-worker-");
const FAULT_STAGE = resolve(import.meta.dir, "../../fixtures/stages/fault-stage.ts");
const README = readFileSync(resolve(import.meta.dir, "../../README.md"), "utf8");
let procs: { kill(sig?: number | NodeJS.Signals): void; exited: Promise<number> }[] = [];
const workers: WorkerProc[] = [];
afterEach(async () => {
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  procs = [];
  while (workers.length) await workers.pop()!.stop("SIGKILL");
});
afterAll(() => T.cleanup());

const show = async (home: string, id: string) => JSON.parse((await runFalc(["tasks", "show", id, "--json"], { env: { FALC_HOME: home } })).stdout);

test("--health-port 0 takes a free port; /metrics has every metric the README names; the lease is 30 s by default", async () => {
  const home = join(T.home, "metrics");
  const w = watchFalc(["worker", "--stage-path", TEST_STAGE, "--stage", "teststage", "--health-port", "0", "--no-tui", "--log-level", "info"], { FALC_HOME: home });
  const p = w.proc;
  procs.push(p);
  const port = await waitFor(() => {
    const line = w.stderr().split("\n").find((l) => l.includes('"health_listening"'));
    return line ? (JSON.parse(line).port as number) : null;
  }, 20_000, 50, "health_listening with its port");
  expect(port).toBeGreaterThan(0);
  expect(port).not.toBe(8082);
  const get = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, body: await r.text() };
  };
  await waitFor(async () => JSON.parse((await get("/health")).body).workers?.[0]?.state === "idle", 20_000, 50, "idle child");
  const health = await get("/health");
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body).status).toBe("ok");

  const [delayed] = await submit(home, {}, ["--delay", "600"]);
  const [slow] = await submit(home, { sleepMs: 4000 });
  const running = await waitFor(async () => {
    const t = await show(home, slow!);
    return t.status === "started" && t;
  }, 20_000, 50, "the slow task started");
  // Held for the default lease from its last heartbeat: 30 s, not more.
  const held = running.leaseUntil - Date.now();
  expect(held).toBeGreaterThan(20_000);
  expect(held).toBeLessThanOrEqual(30_000);

  const m = await waitFor(async () => {
    const b = (await get("/metrics")).body;
    return /^falc_queue_tasks\{stage="teststage",status="queued"\} 1$/m.test(b) && /^falc_queue_tasks\{stage="teststage",status="started"\} 1$/m.test(b) && b;
  }, 10_000, 100, "falc_queue_tasks counts the delayed and the running task");
  expect(m).toMatch(/^falc_queue_up 1$/m);
  // Every metric named in the README's /metrics sentence is served, with its type.
  const sentence = README.slice(README.indexOf("`/metrics` has"), README.indexOf("`promtool check metrics` passes"));
  const names = [...sentence.matchAll(/`(falc_[a-z_]+)/g)].map((x) => x[1]!);
  expect(names).toContain("falc_queue_tasks");
  expect(names.length).toBeGreaterThanOrEqual(7);
  for (const n of names) expect([n, m.includes(`# TYPE ${n} `)]).toEqual([n, true]);
  expect(delayed).toBeDefined();
}, 60_000);

test("a run past its timeout gets SIGTERM, SIGKILL 2 s later, and goes back to the queue with the attempt counted", async () => {
  const home = join(T.home, "timeout");
  const w = await startWorker(home, ["--stage-path", FAULT_STAGE, "--stage", "faultstage", "--poll-ms", "20"]);
  workers.push(w);
  const log = join(home, "runs.log");
  // First attempt: ignores SIGTERM and would work 20 s; the second works 50 ms.
  const r = await runFalc(["tasks", "submit", "faultstage", "--stage-path", FAULT_STAGE, "--timeout", "1", "--max-attempts", "2", "--payload", JSON.stringify({ log, workMs: 50, slowAttempts: 1, slowMs: 20_000 })], { env: { FALC_HOME: home } });
  expect(r.code).toBe(0);
  const id = r.stdout.trim();
  const t = await waitFor(async () => {
    const x = await show(home, id);
    return x.status === "finished" && x;
  }, 30_000, 100, "finished on its second attempt");
  expect(t.attempts).toBe(2);
  const lines = readFileSync(log, "utf8").trim().split("\n").map((l) => l.split(" "));
  const first = lines.filter((l) => l[2] === "1");
  expect(first.some((l) => l[0] === "end")).toBe(false); // killed, never finished
  const ran = Number(BigInt(first.at(-1)![5]!) - BigInt(first[0]![5]!)) / 1e6;
  // 1 s to the timeout's SIGTERM (trapped), then 2 s of grace before SIGKILL: it ticked for about 3 s.
  expect(ran).toBeGreaterThan(2_800);
  expect(ran).toBeLessThan(6_000);
  expect(lines.filter((l) => l[2] === "2").map((l) => l[0])).toContain("end");
}, 60_000);

test("SIGINT stops claiming and lets a running task finish within --grace; the next queued task stays queued", async () => {
  const home = join(T.home, "sigint");
  const w = await startWorker(home, ["--stage", "teststage", "--grace", "30", "--poll-ms", "20"]);
  workers.push(w);
  const [running] = await submit(home, { sleepMs: 1500 });
  await waitFor(async () => (await w.health()).workers[0]?.task_id === running, 10_000, 50, "running");
  const [next] = await submit(home, {});
  expect(await w.stop("SIGINT")).toBe(0);
  const tasks = await tasksJson(home);
  expect(tasks.find((t) => t.id === running)!.status).toBe("finished");
  expect(tasks.find((t) => t.id === next)!.status).toBe("queued");
  expect(w.stderr()).not.toContain('"event":"task_requeued"');
}, 30_000);

test("a failing setup is retried after 1 s, then 2 s (doubling toward the 60 s cap)", async () => {
  const home = join(T.home, "setup");
  mkdirSync(home, { recursive: true });
  const flag = join(home, "fail-setup");
  writeFileSync(flag, "1");
  const w = await startWorker(home, ["--stage", "teststage"], { FALC_TEST_SETUP_FAIL_FILE: flag });
  workers.push(w);
  const restarts = () =>
    w.stderr().split("\n").filter((l) => l.includes('"event":"worker_restart"')).map((l) => JSON.parse(l).in_ms as number);
  await waitFor(() => restarts().length >= 2, 15_000, 50, "two setup retries");
  expect(restarts().slice(0, 2)).toEqual([1000, 2000]);
}, 30_000);

test("a child dying in setup is restarted after 0.25 s, then 0.5 s (less up to 20 % jitter, toward the 30 s cap), and comes up once setup stops dying", async () => {
  const home = join(T.home, "setup-crash");
  mkdirSync(home, { recursive: true });
  const flag = join(home, "crash-setup");
  writeFileSync(flag, "1");
  const w = watchFalc(["worker", "--stage-path", TEST_STAGE, "--stage", "teststage", "--no-tui", "--no-health", "--log-level", "info"], { FALC_HOME: home, FALC_TEST_SETUP_CRASH_FILE: flag });
  const p = w.proc;
  procs.push(p);
  const exits = () => w.stderr().split("\n").filter((l) => l.includes('"event":"worker_exited"')).map((l) => JSON.parse(l).in_ms as number);
  await waitFor(() => exits().length >= 2, 15_000, 20, "two deaths in setup");
  const [a, b] = exits();
  expect(a).toBeGreaterThanOrEqual(200);
  expect(a).toBeLessThanOrEqual(250);
  expect(b).toBeGreaterThanOrEqual(400);
  expect(b).toBeLessThanOrEqual(500);
  rmSync(flag);
  await waitFor(() => w.stderr().includes('"event":"worker_ready"'), 15_000, 20, "set up at last");
}, 30_000);
