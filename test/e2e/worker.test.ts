import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync, existsSync, unlinkSync, readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { runFalc, tempHome, waitFor } from "./helpers.ts";
import { pidAlive, startWorker, stats, submit, tasksJson, TEST_STAGE, type WorkerProc } from "./worker-helpers.ts";

const homes: { cleanup(): void }[] = [];
const running: WorkerProc[] = [];
function home() {
  const h = tempHome("falc-w-");
  homes.push(h);
  return h.home;
}
afterEach(async () => {
  while (running.length) await running.pop()!.stop("SIGKILL").catch(() => {});
});
afterAll(() => homes.forEach((h) => h.cleanup()));

function marks(path: string): string[] {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
}

/** How many times the queue recorded each task as finished. */
function finishedEvents(h: string): Map<string, number> {
  const db = new Database(join(h, "queue.sqlite"), { readonly: true });
  const rows = db.query("SELECT task_id, count(*) AS n FROM events WHERE type='finished' GROUP BY task_id").all() as { task_id: string; n: number }[];
  db.close();
  return new Map(rows.map((r) => [r.task_id, r.n]));
}

describe("falc worker (real processes, real signals)", () => {
  test("500 tasks through 4 children finish exactly once", async () => {
    const h = home();
    const mark = join(h, "marks");
    // Children set up first: 500 no-op tasks take about a second, less than a slow child's start on a busy machine.
    const w = await startWorker(h, ["--stage", "teststage", "--count", "teststage=4", "--poll-ms", "20"]);
    running.push(w);
    const ids = await submit(h, { mark }, ["--count", "500"]);
    await waitFor(async () => (await stats(h)).teststage?.finished === 500, 120_000, 200, "500 finished");
    const m = marks(mark);
    expect(m.length).toBe(500);
    expect(new Set(m)).toEqual(new Set(ids));
    const fin = finishedEvents(h);
    expect([...fin.values()].every((n) => n === 1)).toBe(true);
    expect(fin.size).toBe(500);
    // All four children did work.
    const workers = new Set((await tasksJson(h, "finished")).map((t) => (t.result as { worker: string }).worker));
    expect(workers).toEqual(new Set(["teststage0", "teststage1", "teststage2", "teststage3"]));
    expect(await w.stop()).toBe(0);
  }, 180_000);

  test("kill -9 of a child mid-task: restarted, task finished once", async () => {
    const h = home();
    const mark = join(h, "marks");
    const w = await startWorker(h, ["--stage", "teststage", "--count", "teststage=2", "--lease", "5"]);
    running.push(w);
    const [id] = await submit(h, { mark, sleepMs: 3000 });
    const victim = await waitFor(async () => (await w.health()).workers.find((x) => x.task_id === id && x.state === "working"), 10_000, 50, "task running");
    process.kill(victim.pid!, "SIGKILL");
    const after = await waitFor(async () => (await w.health()).workers.find((x) => x.name === victim.name && x.restarts >= 1 && x.pid !== victim.pid), 10_000, 50, "child restarted");
    expect(after.pid).not.toBe(victim.pid);
    await waitFor(async () => (await stats(h)).teststage?.finished === 1, 30_000, 100, "task finished");
    const t = (await tasksJson(h)).find((x) => x.id === id)!;
    expect(t.status).toBe("finished");
    expect(t.attempts).toBe(2);
    expect(marks(mark)).toEqual([id!]);
    expect(finishedEvents(h).get(id!)).toBe(1);
    expect(w.stderr()).toContain('"event":"worker_died"');
  }, 60_000);

  test("kill -9 of the handler: children exit, a new handler finishes everything", async () => {
    const h = home();
    const mark = join(h, "marks");
    const ids = await submit(h, { mark, sleepMs: 150 }, ["--count", "40"]);
    const w1 = await startWorker(h, ["--stage", "teststage", "--count", "teststage=3", "--lease", "2"]);
    running.push(w1);
    await waitFor(async () => ((await stats(h)).teststage?.finished ?? 0) >= 5, 30_000, 50, "some finished");
    const children = (await w1.health()).workers.map((x) => x.pid!).filter(Boolean);
    w1.proc.kill("SIGKILL");
    await w1.proc.exited;
    // Orphaned children notice the handler is gone and exit.
    await waitFor(() => children.every((p) => !pidAlive(p)), 10_000, 50, "children gone");
    const w2 = await startWorker(h, ["--stage", "teststage", "--count", "teststage=3", "--lease", "2"]);
    running.push(w2);
    await waitFor(async () => (await stats(h)).teststage?.finished === 40, 60_000, 100, "all finished");
    const fin = finishedEvents(h);
    expect(fin.size).toBe(40);
    expect([...fin.values()].every((n) => n === 1)).toBe(true);
    // Side effects: every task's at least once; a repeat only for work in flight at the kill.
    const m = marks(mark);
    expect(new Set(m)).toEqual(new Set(ids));
    expect(m.length - new Set(m).size).toBeLessThanOrEqual(3);
  }, 120_000);

  test("a hanging task is killed at its timeout and the child restarted", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage"]);
    running.push(w);
    const t0 = Date.now();
    const [id] = await submit(h, { hang: true }, ["--timeout", "2", "--max-attempts", "1"]);
    const t = await waitFor(async () => (await tasksJson(h, "failed")).find((x) => x.id === id), 20_000, 100, "hang failed");
    expect(Date.now() - t0).toBeLessThan(12_000);
    expect(t.error?.code).toBe("timeout");
    expect(t.error?.message).toMatch(/timed out after 2 s/);
    await waitFor(async () => (await w.health()).workers[0]?.state === "idle", 15_000, 100, "idle again");
    expect((await w.health()).workers[0]!.restarts).toBeGreaterThanOrEqual(1);
    const [ok] = await submit(h, { echo: "after" });
    await waitFor(async () => (await tasksJson(h, "finished")).find((x) => x.id === ok), 15_000, 100, "next task runs");
  }, 60_000);

  test("a setup failure is reported in /health, retried with backoff, and recovers", async () => {
    const h = home();
    const flag = join(h, "fail-setup");
    writeFileSync(flag, "1");
    const w = await startWorker(h, ["--stage", "teststage"], { FALC_TEST_SETUP_FAIL_FILE: flag });
    running.push(w);
    const res = await fetch(`http://127.0.0.1:${w.port}/health`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; reasons: string[]; workers: { state: string; error: string }[] };
    expect(body.status).toBe("unhealthy");
    expect(body.reasons).toEqual(["setup failing for stage teststage: test setup failure requested"]);
    expect(body.workers[0]!.state).toBe("setup_failed");
    expect(body.workers[0]!.error).toMatch(/test setup failure requested/);
    expect(w.stderr()).toContain('"event":"setup_failed"');
    unlinkSync(flag);
    await waitFor(async () => (await w.health()).workers[0]?.state === "idle", 20_000, 100, "recovered");
    const metrics = await (await fetch(`http://127.0.0.1:${w.port}/metrics`)).text();
    expect(metrics).toMatch(/falc_workers\{stage="teststage",state="idle"\} 1/);
    expect(metrics).toContain("falc_worker_restarts_total");
  }, 60_000);

  test("cancel of a running task reaches the child; retries back off and succeed", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--lease", "1"]);
    running.push(w);
    const [slow] = await submit(h, { sleepMs: 30_000 });
    await waitFor(async () => (await w.health()).workers[0]?.task_id === slow, 10_000, 50, "running");
    const c = await runFalc(["tasks", "cancel", slow!], { env: { FALC_HOME: h } });
    expect(c.code).toBe(0);
    await waitFor(async () => (await w.health()).workers[0]?.state === "idle", 5_000, 50, "child stopped the task");
    expect((await tasksJson(h, "cancelled")).map((t) => t.id)).toContain(slow);
    const [flaky] = await submit(h, { fail: "first try fails", failAttempts: 1 });
    const done = await waitFor(async () => (await tasksJson(h, "finished")).find((t) => t.id === flaky), 20_000, 100, "retried");
    expect(done.attempts).toBe(2);
  }, 60_000);

  test("cancel reaches a running task on SQLite within 1 s, not at the next heartbeat", async () => {
    const h = home();
    // A 60 s lease: heartbeats 20 s apart, so a stop within a second came from the cancel watch.
    const w = await startWorker(h, ["--stage", "teststage", "--lease", "60"]);
    running.push(w);
    const [slow] = await submit(h, { sleepMs: 60_000 });
    await waitFor(async () => (await w.health()).workers[0]?.task_id === slow, 10_000, 50, "running");
    const c = await runFalc(["tasks", "cancel", slow!], { env: { FALC_HOME: h } });
    expect(c.code).toBe(0);
    const t0 = Date.now();
    await waitFor(async () => (await w.health()).workers[0]?.state === "idle", 5_000, 20, "child stopped the task");
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(w.stderr()).toContain('"event":"task_cancel"');
  }, 60_000);

  test("a payload over the IPC limit is refused at submit with its size and the limit", async () => {
    const h = home();
    const big = join(h, "big.json");
    writeFileSync(big, JSON.stringify({ echo: "x".repeat(17 * 1024 * 1024) }));
    const r = await runFalc(["tasks", "submit", "teststage", "--stage-path", TEST_STAGE, "--payload", `@${big}`], { env: { FALC_HOME: h } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^falc: the payload is 178\d{5} bytes of JSON; a task's payload may be at most 16711680 bytes/);
    expect((await stats(h)).teststage).toBeUndefined();
  }, 60_000);

  test("falc tasks show prints the task's timeline (time, event, state, worker, attempt, error), and --json too", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--poll-ms", "20"]);
    running.push(w);
    const [id] = await submit(h, { fail: "flaky disk", failAttempts: 2 }, ["--max-attempts", "3"]);
    await waitFor(async () => (await tasksJson(h, "finished")).find((t) => t.id === id), 30_000, 100, "finished on the third attempt");
    const json = JSON.parse((await runFalc(["tasks", "show", id!, "--json"], { env: { FALC_HOME: h } })).stdout) as {
      errors: { attempt: number; message: string; worker: string }[];
      timeline: { event: string; state: string; worker: string | null; attempt: number | null; note: string | null }[];
    };
    expect(json.errors.map((e) => [e.attempt, e.message])).toEqual([[1, "flaky disk"], [2, "flaky disk"]]);
    expect(json.errors[0]!.worker).toMatch(/^teststage0@/);
    const tl = json.timeline.map((r) => `${r.event}/${r.state}/${r.attempt ?? "-"}/${r.note ?? ""}`);
    expect(tl).toEqual([
      "created/created/-/",
      "queued/queued/-/",
      "requested/requested/1/",
      "started/started/1/",
      "retry_scheduled/queued/1/flaky disk",
      "queued/queued/1/",
      "requested/requested/2/",
      "started/started/2/",
      "retry_scheduled/queued/2/flaky disk",
      "queued/queued/2/",
      "requested/requested/3/",
      "started/started/3/",
      "finished/finished/3/",
    ]);
    const human = await runFalc(["tasks", "show", id!], { env: { FALC_HOME: h } });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/TIME\s+EVENT\s+STATE\s+WORKER\s+ATTEMPT\s+ERROR \/ NOTE/);
    expect(human.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z\s+retry_scheduled\s+queued\s+teststage0@\S+\s+2\s+flaky disk$/m);
  }, 60_000);

  test("a stage module that does not load says file:line:column and the message, exit 2", async () => {
    const h = home();
    const cases: [string, string, RegExp][] = [
      ["syntax.ts", 'export default (api: any) => ({\n  name: "bad",\n  run( {\n});\n', /^falc: cannot load stage module (\S+): \1:4:3: Expected "\{" but found ";"/],
      ["throws.ts", 'const x = 1;\nthrow new TypeError("top-level boom");\nexport default 1;\n', /^falc: cannot load stage module (\S+): \1:2:11: top-level boom$/],
      ["factory.ts", 'export default (api: any) => {\n  throw new Error("boom in factory");\n};\n', /^falc: stage module (\S+) failed while loading: \1:2:\d+: boom in factory$/],
    ];
    for (const [name, src, line] of cases) {
      const f = join(h, name);
      writeFileSync(f, src);
      const r = await runFalc(["worker", "--stage", "bad", "--stage-path", f, "--no-tui", "--no-health"], { env: { FALC_HOME: h } });
      expect(r.code, name).toBe(2);
      expect(r.stderr.trim(), name).toMatch(line);
      expect(r.stderr.trim().split("\n"), name).toHaveLength(1);
    }
  }, 60_000);

  test("a stage's service runs once per handler beside its children and stops with it", async () => {
    const h = home();
    const file = join(h, "service.log");
    const w = await startWorker(h, ["--stage", "teststage", "--count", "teststage=2"], { FALC_TEST_SERVICE_FILE: file });
    await waitFor(() => marks(file).length === 1, 10_000, 50, "service started");
    expect(marks(file)).toEqual([`started ${w.proc.pid} sqlite`]);
    expect(await w.stop("SIGTERM")).toBe(0);
    expect(marks(file)).toEqual([`started ${w.proc.pid} sqlite`, `stopped ${w.proc.pid}`]);
  }, 60_000);

  test("a child killed by its task restarts at once (no crash backoff): 8 crashing tasks in a row do not slow the next", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--poll-ms", "20"]);
    running.push(w);
    await submit(h, { crash: true }, ["--count", "8", "--max-attempts", "1"]);
    await waitFor(async () => (await stats(h)).teststage?.failed === 8, 60_000, 100, "8 crashed");
    const restarts = w.stderr().split("\n").filter((l) => l.includes('"event":"worker_exited"')).map((l) => JSON.parse(l).in_ms);
    expect(restarts.length).toBeGreaterThanOrEqual(8);
    // The old rule backed off 0.5 s, 1 s, 2 s … after a child died young; a task's crash is not a broken setup.
    expect(restarts.every((ms) => ms === 0)).toBe(true);
    const [ok] = await submit(h, { echo: "after" });
    await waitFor(async () => (await tasksJson(h, "finished")).find((t) => t.id === ok), 10_000, 50, "the next task runs");
  }, 90_000);

  test("SIGTERM lets a running task finish within grace, else gives it back", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--grace", "1"]);
    const [long] = await submit(h, { sleepMs: 20_000 });
    await waitFor(async () => (await w.health()).workers[0]?.task_id === long, 10_000, 50, "running");
    const t0 = Date.now();
    expect(await w.stop("SIGTERM")).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8_000);
    const t = (await tasksJson(h)).find((x) => x.id === long)!;
    expect(t.status).toBe("queued");
    expect(t.attempts).toBe(0);
    expect(w.stderr()).toContain('"event":"task_requeued"');
  }, 60_000);

  test("garbage on a worker socket is refused; nothing is lost", async () => {
    const h = home();
    const mark = join(h, "marks");
    const w = await startWorker(h, ["--stage", "teststage"]);
    running.push(w);
    const sock = readdirSync(join(h, "sockets")).find((f) => f.startsWith("teststage0-"))!;
    const reply = await new Promise<string>((res) => {
      const s = connect(join(h, "sockets", sock));
      let buf = "";
      s.on("connect", () => s.write("GARBAGE\x00\xff not json\n{\"type\":\"work\"}\n"));
      s.on("data", (d) => (buf += d));
      s.on("close", () => res(buf));
      s.on("error", () => res(buf));
    });
    expect(reply).toContain("already has a handler");
    const ids = await submit(h, { mark }, ["--count", "10"]);
    await waitFor(async () => (await stats(h)).teststage?.finished === 10, 20_000, 100, "all finished");
    expect(new Set(marks(mark))).toEqual(new Set(ids));
    expect((await w.health()).workers[0]!.restarts).toBe(0);
  }, 60_000);

  test("bad input: unknown stage, bad --count, payload that does not fit", async () => {
    const h = home();
    const r1 = await runFalc(["worker", "--stage", "nosuch", "--no-tui", "--no-health"], { env: { FALC_HOME: h } });
    expect(r1.code).toBe(2);
    expect(r1.stderr.trim()).toMatch(/^falc: unknown stage `nosuch`/);
    const r2 = await runFalc(["worker", "--stage", "teststage", "--count", "teststage=many", "--stage-path", TEST_STAGE], { env: { FALC_HOME: h } });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--count takes stage=N/);
    const r3 = await runFalc(["tasks", "submit", "teststage", "--stage-path", TEST_STAGE, "--payload", '{"sleepMs":"long"}'], { env: { FALC_HOME: h } });
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/field `sleepMs`/);
    const r4 = await runFalc(["worker"], { env: { FALC_HOME: h } });
    expect(r4.code).toBe(2);
    expect(r4.stderr).toMatch(/needs --stage/);
  }, 30_000);
});

describe("falc worker on a terminal", () => {
  test("shows the TUI with its workers, logs to a file, and q stops it cleanly", async () => {
    const h = home();
    const session = `falc-w-${process.pid}`;
    const { FALC } = await import("./helpers.ts");
    // A private tmux server: the default one may be older than this test and carry another environment
    // (scripts/test sets FALC_LOG_LEVEL=warn, which would keep worker_ready out of the log file).
    const sock = `falc-w-${process.pid}`;
    const sh = (args: string[]) => Bun.spawnSync(["tmux", "-L", sock, "-f", "/dev/null", ...args], { stdout: "pipe", stderr: "pipe" });
    const started = sh(["new-session", "-d", "-s", session, "-x", "160", "-y", "40", `FALC_HOME=${h} FALC_LOG_LEVEL=info ${FALC} worker --stage noop --count noop=2 --health-port 0; echo EXITED $?; sleep 60`]);
    expect(started.exitCode).toBe(0);
    try {
      const pane = () => sh(["capture-pane", "-p", "-t", session]).stdout.toString();
      await waitFor(() => /noop0@\S+\s+\S+\s+noop\s+idle/.test(pane()) && /noop1@\S+\s+\S+\s+noop\s+idle/.test(pane()), 20_000, 100, "both children idle in the TUI");
      expect(pane()).not.toContain('"level"');
      sh(["send-keys", "-t", session, "q"]);
      await waitFor(() => pane().includes("EXITED 0"), 20_000, 100, "worker exit 0");
      const logs = readdirSync(join(h, "logs"));
      expect(logs.length).toBe(1);
      expect(readFileSync(join(h, "logs", logs[0]!), "utf8")).toContain('"event":"worker_ready"');
    } finally {
      sh(["kill-server"]);
      rmSync(join(process.env.TMUX_TMPDIR ?? "/tmp", `tmux-${process.getuid?.() ?? 0}`, sock), { force: true });
    }
  }, 60_000);
});
