// falc workers on a shared Redis, with real kill -9s: of worker children, of a handler, of redis-server itself.
// "Exactly once" is counted from side effects: the test stage appends `<id> <attempt> <pid> <ppid>` to a ledger
// when a run's work is done, so every run that did the work is on record, not only what the queue says.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TaskEvent } from "../../src/core/task.ts";
import { RedisQueue } from "../../src/queue/redis.ts";
import { freePort, startRedis, type RedisServer } from "../redis-server.ts";
import { FALC, runFalc, tempHome, waitFor, watchFalc } from "./helpers.ts";
import { pidAlive, startWorker, TEST_STAGE, type WorkerProc } from "./worker-helpers.ts";

const homes: { cleanup(): void }[] = [];
const workers: WorkerProc[] = [];
const servers: RedisServer[] = [];
const queues: RedisQueue[] = [];
const procs: ReturnType<typeof Bun.spawn>[] = [];

function home(): string {
  const h = tempHome("falc-redis-e2e-");
  homes.push(h);
  return h.home;
}
afterEach(async () => {
  while (workers.length) await workers.pop()!.stop("SIGKILL").catch(() => {});
  for (const p of procs.splice(0)) p.kill("SIGKILL");
  while (queues.length) await queues.pop()!.close().catch(() => {});
  while (servers.length) await servers.pop()!.stop();
});
afterAll(() => homes.forEach((h) => h.cleanup()));

async function redisServer(persist = false): Promise<RedisServer> {
  const s = await startRedis({ persist });
  servers.push(s);
  return s;
}

async function queueOn(url: string): Promise<RedisQueue> {
  const q = new RedisQueue(url, { persistent: true });
  queues.push(q);
  await q.connect();
  return q;
}

async function submit(h: string, url: string, payload: unknown, extra: string[] = []): Promise<string[]> {
  const r = await runFalc(["tasks", "submit", "teststage", "--stage-path", TEST_STAGE, "--queue", url, "--payload", JSON.stringify(payload), "--json", ...extra], { env: { FALC_HOME: h } });
  if (r.code !== 0) throw new Error(`submit failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  return (Array.isArray(out) ? out : [out]).map((t: { id: string }) => t.id);
}

interface Run {
  id: string;
  attempt: number;
  pid: number;
  ppid: number;
}

function ledger(path: string): Run[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [id, attempt, pid, ppid] = l.split(" ");
      return { id: id!, attempt: Number(attempt), pid: Number(pid), ppid: Number(ppid) };
    });
}

async function allEvents(q: RedisQueue): Promise<TaskEvent[]> {
  const out: TaskEvent[] = [];
  for (;;) {
    const batch = await q.events(out.at(-1)?.seq ?? 0, 5000);
    out.push(...batch);
    if (batch.length < 5000) return out;
  }
}

async function finishedEventsPerTask(q: RedisQueue): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const e of await allEvents(q)) if (e.type === "finished") m.set(e.taskId, (m.get(e.taskId) ?? 0) + 1);
  return m;
}

const finished = async (q: RedisQueue) => (await q.stats()).teststage?.finished ?? 0;
const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+:\d+/m);

describe("falc workers on Redis (real processes, real kill -9)", () => {
  test("1,000 tasks over 2 handlers with random kill -9 of children and of one handler: every task finished once", async () => {
    const redis = await redisServer();
    const url = redis.url(0);
    const q = await queueOn(url);
    const h = home();
    const book = join(h, "ledger");
    const ids = await submit(h, url, { sleepMs: 40, ledger: book }, ["--count", "1000", "--max-attempts", "20"]);
    expect(new Set(ids).size).toBe(1000);
    // Two "machines": own FALC_HOMEs, one Redis.
    const args = ["--stage", "teststage", "--count", "teststage=3", "--lease", "5", "--poll-ms", "20"];
    const env = { FALC_QUEUE: url };
    const a = await startWorker(home(), args, env);
    const b = await startWorker(home(), args, env);
    workers.push(a, b);
    const killedPids = new Set<number>();
    const killedHandlers = new Set<number>();
    let live = [a, b];
    let replacement: WorkerProc | null = null;
    const deadline = Date.now() + 150_000;
    while ((await finished(q)) < 1000) {
      if (Date.now() > deadline) throw new Error(`only ${await finished(q)} of 1000 finished; stats ${JSON.stringify(await q.stats())}`);
      const done = await finished(q);
      if (!killedHandlers.size && done >= 300) {
        // kill -9 one handler: its children notice and exit, its tasks come back when their leases run out.
        const kids = (await a.health().catch(() => ({ workers: [] as { pid: number | null }[] }))).workers.flatMap((w) => (w.pid ? [w.pid] : []));
        kids.forEach((p) => killedPids.add(p));
        killedHandlers.add(a.proc.pid);
        a.proc.kill("SIGKILL");
        await a.proc.exited;
        live = [b];
      } else if (killedHandlers.size && !replacement && done >= 500) {
        replacement = await startWorker(home(), args, env);
        workers.push(replacement);
        live = [b, replacement];
      } else {
        // kill -9 a random child in the middle of a task.
        const w = live[Math.floor(Math.random() * live.length)]!;
        const busy = (await w.health().catch(() => ({ workers: [] as { pid: number | null; state: string }[] }))).workers.filter((x) => x.state === "working" && x.pid);
        const victim = busy[Math.floor(Math.random() * busy.length)];
        if (victim?.pid && killedPids.size < 25) {
          killedPids.add(victim.pid);
          try {
            process.kill(victim.pid, "SIGKILL");
          } catch {}
        }
      }
      await Bun.sleep(250 + Math.random() * 350);
    }
    const st = (await q.stats()).teststage!;
    expect(st).toEqual({ created: 0, queued: 0, requested: 0, started: 0, finished: 1000, failed: 0, cancelled: 0 });
    // The queue recorded each task finished exactly once.
    const fin = await finishedEventsPerTask(q);
    expect(fin.size).toBe(1000);
    expect([...fin.values()].every((n) => n === 1)).toBe(true);
    // Side effects: each task's work was done by exactly one run that finished (its final attempt) ...
    const tasks = await q.list({ stage: "teststage", limit: 2000 });
    const finalAttempt = new Map(tasks.map((t) => [t.id, t.attempts]));
    const runs = ledger(book);
    const byTask = new Map<string, Run[]>();
    for (const r of runs) byTask.set(r.id, [...(byTask.get(r.id) ?? []), r]);
    expect(new Set(byTask.keys())).toEqual(new Set(ids));
    for (const [id, rs] of byTask) expect(rs.filter((r) => r.attempt === finalAttempt.get(id)), id).toHaveLength(1);
    // ... and any other run that got as far as the side effect was one the test killed before it could report.
    const extra = runs.filter((r) => r.attempt !== finalAttempt.get(r.id));
    for (const r of extra) expect(killedPids.has(r.pid) || killedHandlers.has(r.ppid) || r.ppid === 1, JSON.stringify(r)).toBe(true);
    // The kills were real: tasks were retried, and both handlers (and the replacement) did work.
    expect(killedPids.size).toBeGreaterThan(3);
    expect(tasks.filter((t) => t.attempts > 1).length).toBeGreaterThan(0);
    const parents = new Set(runs.map((r) => r.ppid));
    expect(parents.has(a.proc.pid) && parents.has(b.proc.pid)).toBe(true);
    console.log(`redis fault e2e: ${killedPids.size} children killed (${[...killedHandlers].length} handler), ${extra.length} repeated side effects, all from killed runs`);
    for (const w of [b, replacement!]) expect(await w.stop()).toBe(0);
    workers.length = 0;
  }, 200_000);

  test("redis-server killed and restarted with its data mid-run: workers reconnect with backoff and finish everything once", async () => {
    const redis = await redisServer(true);
    const url = redis.url(0);
    const q = await queueOn(url);
    const h = home();
    const book = join(h, "ledger");
    const ids = await submit(h, url, { sleepMs: 20, ledger: book }, ["--count", "300"]);
    const args = ["--stage", "teststage", "--count", "teststage=2", "--lease", "15", "--poll-ms", "20"];
    const a = await startWorker(home(), args, { FALC_QUEUE: url });
    const b = await startWorker(home(), args, { FALC_QUEUE: url });
    workers.push(a, b);
    await waitFor(async () => (await finished(q)) >= 60, 60_000, 50, "60 finished");
    await redis.kill();
    // Down long enough for several reconnect attempts on every connection.
    await Bun.sleep(2000);
    expect(pidAlive(a.proc.pid) && pidAlive(b.proc.pid)).toBe(true);
    await redis.restart();
    await waitFor(async () => (await finished(q)) === 300, 90_000, 100, "all 300 finished after the restart");
    const st = (await q.stats()).teststage!;
    expect([st.finished, st.queued, st.requested, st.started, st.failed]).toEqual([300, 0, 0, 0, 0]);
    const fin = await finishedEventsPerTask(q);
    expect(fin.size).toBe(300);
    expect([...fin.values()].every((n) => n === 1)).toBe(true);
    // Nobody was killed but Redis: every task's work was done exactly once.
    const runs = ledger(book);
    expect(runs.length).toBe(300);
    expect(new Set(runs.map((r) => r.id))).toEqual(new Set(ids));
    for (const w of [a, b]) {
      const err = w.stderr();
      expect(err).toContain('"event":"queue_unreachable"');
      expect(err).toContain('"event":"queue_reachable"');
      // One line for the outage, not one per reconnect attempt.
      expect(err.split("\n").filter((l) => l.includes('"event":"queue_unreachable"')).length).toBe(1);
      noStack(err);
    }
  }, 180_000);

  test("Redis unreachable at start: one clear line, retries, then works once Redis is up; bad URL and bad payload are refused", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}/0`;
    const h = home();
    // A one-shot command says it cannot reach the queue and exits 1.
    const cli = await runFalc(["tasks", "list", "--queue", url], { env: { FALC_HOME: h } });
    expect(cli.code).toBe(1);
    expect(cli.stderr.trim().split("\n")).toEqual([`falc: cannot reach the Redis queue at ${url}: connect ECONNREFUSED 127.0.0.1:${port}`]);
    const bad = await runFalc(["worker", "--stage", "teststage", "--stage-path", TEST_STAGE, "--queue", "redis://127.0.0.1:70000/0"], { env: { FALC_HOME: h } });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual(["falc: queue URL `redis://127.0.0.1:70000/0`: port must be 1-65535, got `70000`"]);

    // A worker waits for it.
    const hp = await freePort();
    const w = watchFalc(["worker", "--stage", "teststage", "--stage-path", TEST_STAGE, "--queue", url, "--health-port", String(hp), "--no-tui", "--poll-ms", "20", "--log-level", "info"], { FALC_HOME: home() });
    const proc = w.proc;
    procs.push(proc);
    await waitFor(() => w.stderr().includes('"event":"queue_unreachable"'), 15_000, 50, "the unreachable line");
    // While it waits, /health already answers: 503 with the reason, within 1 s.
    const probe = await waitFor(async () => {
      const t0 = performance.now();
      const r = await fetch(`http://127.0.0.1:${hp}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
      return r && r.status === 503 ? { body: (await r.json()) as { reasons: string[] }, ms: performance.now() - t0 } : null;
    }, 10_000, 100, "503 while Redis is down at start");
    expect(probe.ms).toBeLessThan(1000);
    expect(probe.body.reasons[0]).toMatch(/^queue unreachable since /);
    await Bun.sleep(3000);
    expect(proc.exitCode).toBeNull();
    const lines = w.stderr().split("\n").filter((l) => l && !l.includes('"event":"health_listening"'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).msg).toBe(`queue ${url} unreachable (connect ECONNREFUSED 127.0.0.1:${port}); retrying with backoff`);

    const redis = await startRedis({ port });
    servers.push(redis);
    await waitFor(() => w.stderr().includes('"event":"queue_reachable"') && w.stderr().includes('"event":"worker_ready"'), 30_000, 50, "worker up after Redis came up");
    // A payload that does not fit the stage's schema is refused before it reaches Redis.
    const refused = await runFalc(["tasks", "submit", "teststage", "--stage-path", TEST_STAGE, "--queue", url, "--payload", '{"sleepMs":"soon"}'], { env: { FALC_HOME: h } });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe("falc: payload for stage `teststage` does not fit: field `sleepMs`: Invalid input: expected number, received string");
    const book = join(h, "ledger");
    const ids = await submit(h, url, { ledger: book }, ["--count", "20"]);
    const q = await queueOn(url);
    await waitFor(async () => (await finished(q)) === 20, 30_000, 100, "20 finished");
    expect((await q.stats()).teststage?.queued).toBe(0);
    expect(ledger(book).map((r) => r.id).sort()).toEqual([...ids].sort());
    noStack(w.stderr());
  }, 90_000);

  test("a URL the server refuses (no such db, wrong password, not Redis) is one line and exit 2, never db 0; no password in any argv; one-shot commands do not wait for a close timer", async () => {
    const h = home();
    // A Redis with a password, and an HTTP server where a Redis URL might point by mistake.
    const port = await freePort();
    const dir = join(h, "redis-pw");
    require("node:fs").mkdirSync(dir);
    const pw = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--requirepass", "s3cret-pw"], { stdout: "ignore", stderr: "ignore" });
    procs.push(pw);
    await waitFor(() => Bun.spawnSync(["redis-cli", "-p", String(port), "-a", "s3cret-pw", "--no-auth-warning", "ping"]).stdout.toString().includes("PONG"), 10_000, 25, "redis with a password");
    const http = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("hello") });
    // README: Redis Cluster is not supported; a cluster node is refused at start, not task by task.
    const clusterPort = await freePort();
    const clusterDir = join(h, "redis-cluster");
    require("node:fs").mkdirSync(clusterDir);
    const cl = Bun.spawn(["redis-server", "--port", String(clusterPort), "--bind", "127.0.0.1", "--dir", clusterDir, "--save", "", "--cluster-enabled", "yes", "--cluster-config-file", join(clusterDir, "nodes.conf")], { stdout: "ignore", stderr: "ignore" });
    procs.push(cl);
    await waitFor(() => Bun.spawnSync(["redis-cli", "-p", String(clusterPort), "ping"]).stdout.toString().includes("PONG"), 10_000, 25, "a Redis Cluster node");
    try {
      const cases: [string, RegExp][] = [
        [`redis://:s3cret-pw@127.0.0.1:${port}/99`, /^falc: queue URL redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/99: the Redis server has no database 99 \(ERR DB index is out of range\)/],
        [`redis://:wrong@127.0.0.1:${port}/0`, /^falc: queue URL redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: the Redis server refused the credentials \(WRONGPASS/],
        [`redis://127.0.0.1:${port}/0`, /^falc: queue URL redis:\/\/127\.0\.0\.1:\d+\/0: the Redis server refused the credentials \(NOAUTH/],
        [`redis://127.0.0.1:${http.port}/0`, /^falc: queue URL redis:\/\/127\.0\.0\.1:\d+\/0: the server at 127\.0\.0\.1:\d+ does not speak the Redis protocol/],
        [`redis://127.0.0.1:${clusterPort}/0`, /^falc: queue URL redis:\/\/127\.0\.0\.1:\d+\/0: the server at 127\.0\.0\.1:\d+ is a Redis Cluster node; falc needs a standalone Redis/],
      ];
      for (const [url, line] of cases) {
        const cli = await runFalc(["tasks", "stats", "--queue", url], { env: { FALC_HOME: h } });
        expect(cli.code, url).toBe(2);
        expect(cli.stderr.trim().split("\n"), url).toHaveLength(1);
        expect(cli.stderr.trim(), url).toMatch(line);
        expect(cli.stderr).not.toContain("wrong");
        const w = await runFalc(["worker", "--stage", "teststage", "--stage-path", TEST_STAGE, "--no-tui", "--no-health"], { env: { FALC_HOME: h, FALC_QUEUE: url }, timeoutMs: 15_000 });
        expect(w.code, url).toBe(2);
        expect(w.stderr.trim(), url).toMatch(line);
      }
    } finally {
      http.stop(true);
    }
    // The right URL works; the password is in no process's argv (handler or children), only masked in /health.
    const url = `redis://:s3cret-pw@127.0.0.1:${port}/3`;
    const t0 = performance.now();
    const st = await runFalc(["tasks", "stats", "--json", "--queue", url], { env: { FALC_HOME: h } });
    const oneShotMs = performance.now() - t0;
    expect(st.code, st.stderr).toBe(0);
    // The old close() kept every one-shot command alive a full second after QUIT.
    expect(oneShotMs).toBeLessThan(900);
    const w = await startWorker(home(), ["--stage", "teststage", "--count", "teststage=2"], { FALC_QUEUE: url });
    workers.push(w);
    const pids = [w.proc.pid, ...(await w.health()).workers.map((x) => x.pid!)];
    expect(pids.length).toBe(3);
    for (const pid of pids) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      expect(argv).not.toContain("s3cret-pw");
    }
    const body = JSON.stringify(await w.health());
    expect(body).not.toContain("s3cret-pw");
    expect(body).toContain(`redis://:***@127.0.0.1:${port}/3`);
  }, 90_000);

  test("cancel reaches a running task on another machine at once; workers, /health and stats read Redis", async () => {
    const redis = await redisServer();
    const url = redis.url(0);
    // A 60 s lease means heartbeats every 20 s: a cancel seen sooner came through pub/sub.
    const w = await startWorker(home(), ["--stage", "teststage", "--count", "teststage=2", "--lease", "60"], { FALC_QUEUE: url });
    workers.push(w);
    const h = home();
    const [slow] = await submit(h, url, { sleepMs: 60_000 });
    await waitFor(async () => (await w.health()).workers.find((x) => x.task_id === slow && x.state === "working"), 15_000, 50, "task running");
    const t0 = Date.now();
    const c = await runFalc(["tasks", "cancel", slow!, "--queue", url], { env: { FALC_HOME: h } });
    expect(c.code).toBe(0);
    await waitFor(async () => (await w.health()).workers.every((x) => x.state === "idle"), 10_000, 50, "child idle again");
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(w.stderr()).toContain('"event":"task_cancel"');
    const q = await queueOn(url);
    const t = (await q.get(slow!))!;
    expect(t.status).toBe("cancelled");
    expect(t.error?.message).toMatch(/cancelled/);

    const list = await runFalc(["tasks", "workers", "--queue", url, "--json"], { env: { FALC_HOME: h } });
    const recs = JSON.parse(list.stdout) as { name: string; kind: string; pid: number; state: string }[];
    expect(recs.filter((r) => r.kind === "child").map((r) => r.state)).toEqual(["idle", "idle"]);
    expect(recs.find((r) => r.kind === "handler")?.pid).toBe(w.proc.pid);
    // /health reads the queue probe's last answer (once a second), never the queue itself.
    type H = { status: string; queue: { url: string; reachable: boolean; stats: Record<string, Record<string, number>> } };
    const health = await waitFor(async () => {
      const x = (await w.health()) as unknown as H;
      return x.queue.stats?.teststage?.cancelled === 1 ? x : null;
    }, 5_000, 100, "the probe saw the cancel");
    expect(health.status).toBe("ok");
    expect(health.queue.url).toBe(url);
    expect(health.queue.reachable).toBe(true);
    expect(health.queue.stats.teststage?.cancelled).toBe(1);
    const stats = JSON.parse((await runFalc(["tasks", "stats", "--queue", url, "--json"], { env: { FALC_HOME: h } })).stdout);
    expect(stats.teststage.cancelled).toBe(1);
  }, 60_000);
});
