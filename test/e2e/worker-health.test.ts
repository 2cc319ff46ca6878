// /health and /metrics of `falc worker` whatever the queue does, the health port at start, promtool on real
// metrics, and what a clean stop leaves behind.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, openSync, readdirSync, writeSync, closeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { startRedis, type RedisServer } from "../redis-server.ts";
import { freePort, runFalc, tempHome, waitFor } from "./helpers.ts";
import { startWorker, submit, stats, type WorkerProc } from "./worker-helpers.ts";

const homes: { cleanup(): void }[] = [];
const workers: WorkerProc[] = [];
const servers: RedisServer[] = [];
const stoppedPids: number[] = [];
afterEach(async () => {
  for (const pid of stoppedPids.splice(0)) process.kill(pid, "SIGCONT");
  while (workers.length) await workers.pop()!.stop("SIGKILL").catch(() => {});
  while (servers.length) await servers.pop()!.stop();
});
afterAll(() => homes.forEach((h) => h.cleanup()));
function home(): string {
  const h = tempHome("falc-health-");
  homes.push(h);
  return h.home;
}

/** GET within 1 s or fail: the promise a probe relies on. */
async function get(port: number, path: string): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - t0 };
}

describe("falc worker health", () => {
  test("Redis frozen, then killed: /health is 503 'queue unreachable since …' and /metrics says falc_queue_up 0, each within 1 s", async () => {
    const server = await startRedis();
    servers.push(server);
    const w = await startWorker(home(), ["--stage", "teststage"], { FALC_QUEUE: server.url(0) });
    workers.push(w);
    await waitFor(async () => (await get(w.port, "/health")).status === 200, 10_000, 50, "healthy");
    expect(await get(w.port, "/metrics").then((r) => r.body)).toMatch(/^falc_queue_up 1$/m);
    // A frozen Redis accepts connections and never answers: the worst case for a probe.
    const pid = Number(Bun.spawnSync(["sh", "-c", `ss -ltnpH 'sport = :${server.port}' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2`]).stdout.toString().trim());
    expect(pid).toBeGreaterThan(1);
    process.kill(pid, "SIGSTOP");
    stoppedPids.push(pid);
    const down = await waitFor(async () => {
      const r = await get(w.port, "/health");
      return r.status === 503 ? r : null;
    }, 5_000, 100, "503 while Redis is frozen");
    expect(down.ms).toBeLessThan(1000);
    expect(JSON.parse(down.body).reasons[0]).toMatch(/^queue unreachable since \d{4}-\d\d-\d\dT.*Z \(/);
    const m = await get(w.port, "/metrics");
    expect(m.status).toBe(200);
    expect(m.ms).toBeLessThan(1000);
    expect(m.body).toMatch(/^falc_queue_up 0$/m);
    expect(m.body).toMatch(/falc_workers\{stage="teststage",state="idle"\} 1/);
    process.kill(pid, "SIGCONT");
    stoppedPids.pop();
    await waitFor(async () => (await get(w.port, "/health")).status === 200, 10_000, 100, "healthy again");
    await server.kill();
    const gone = await waitFor(async () => {
      const r = await get(w.port, "/health");
      return r.status === 503 ? r : null;
    }, 5_000, 100, "503 while Redis is down");
    expect(gone.ms).toBeLessThan(1000);
    expect(JSON.parse(gone.body).reasons[0]).toMatch(/^queue unreachable since/);
  }, 60_000);

  test("another process holds the SQLite queue's write lock: /health still answers within 1 s, and the work goes on after", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--poll-ms", "20"]);
    workers.push(w);
    const [first] = await submit(h, { echo: 1 });
    await waitFor(async () => (await stats(h)).teststage?.finished === 1, 10_000, 50, "first task");
    const db = new Database(join(h, "queue.sqlite"));
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("BEGIN IMMEDIATE");
    try {
      db.query("INSERT INTO locks (key, owner, expires_at) VALUES ('held-by-test', 'test', 0)").run();
      // The handler's claims now wait for the lock: it must not stop answering meanwhile.
      for (let i = 0; i < 6; i++) {
        const r = await get(w.port, "/health");
        expect(r.ms).toBeLessThan(1000);
        expect((await get(w.port, "/metrics")).ms).toBeLessThan(1000);
        await Bun.sleep(300);
      }
    } finally {
      db.exec("ROLLBACK");
      db.close();
    }
    const [second] = await submit(h, { echo: 2 });
    await waitFor(async () => (await stats(h)).teststage?.finished === 2, 15_000, 50, "work goes on after the lock");
    expect([first, second].every(Boolean)).toBe(true);
  }, 60_000);

  test("a SQLite queue corrupted under a running worker: 503 'queue corrupt: …', claims back off and say so once", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--poll-ms", "10"]);
    workers.push(w);
    await waitFor(async () => (await get(w.port, "/health")).status === 200, 10_000, 50, "healthy");
    // Overwrite the pages in place (same inode, as a disk fault would): every read now fails.
    const fd = openSync(join(h, "queue.sqlite"), "r+");
    writeSync(fd, Buffer.alloc(64 * 1024, 0x5a), 0, 64 * 1024, 0);
    closeSync(fd);
    for (const f of ["queue.sqlite-wal", "queue.sqlite-shm"]) if (existsSync(join(h, f))) writeFileSync(join(h, f), Buffer.alloc(32 * 1024, 0x5a));
    const bad = await waitFor(async () => {
      const r = await get(w.port, "/health");
      return r.status === 503 ? r : null;
    }, 10_000, 100, "503 on a corrupt queue");
    expect(JSON.parse(bad.body).reasons[0]).toMatch(/^queue corrupt: .*(malformed|not a database)/);
    await Bun.sleep(3000);
    // 10 ms polls for 3 s: one line (and no flood) about failing claims.
    const lines = w.stderr().split("\n").filter((l) => l.includes('"event":"claim_failed"'));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
  }, 60_000);

  test("a taken health port is exit 2 with one line, before any child starts", async () => {
    const h = home();
    const port = await freePort();
    const squatter = Bun.serve({ port, hostname: "127.0.0.1", fetch: () => new Response("not falc") });
    try {
      const r = await runFalc(["worker", "--stage", "teststage", "--stage-path", join(import.meta.dir, "../../fixtures/stages/test-stage.ts"), "--health-port", String(port), "--no-tui"], { env: { FALC_HOME: h }, timeoutMs: 15_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`port ${port} on 127.0.0.1 is already in use`));
      expect(r.stderr).not.toMatch(/^\s+at /m);
      // No child was started: no socket files.
      expect(existsSync(join(h, "sockets")) ? readdirSync(join(h, "sockets")) : []).toEqual([]);
    } finally {
      squatter.stop(true);
    }
  }, 30_000);

  test("metrics after real work pass promtool check metrics: counters by stage and outcome, histograms, restarts", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--count", "teststage=2", "--poll-ms", "20"]);
    workers.push(w);
    await submit(h, { sleepMs: 10 }, ["--count", "5"]);
    await submit(h, { fail: "nope" }, ["--max-attempts", "1"]);
    await waitFor(async () => ((await stats(h)).teststage?.finished ?? 0) === 5 && (await stats(h)).teststage?.failed === 1, 30_000, 100, "work done");
    const m = (await get(w.port, "/metrics")).body;
    expect(m).toMatch(/^# TYPE falc_tasks_total counter$/m);
    expect(m).toMatch(/^falc_tasks_total\{stage="teststage",outcome="finished"\} 5$/m);
    expect(m).toMatch(/^falc_tasks_total\{stage="teststage",outcome="failed"\} 1$/m);
    expect(m).toMatch(/^# TYPE falc_task_queue_wait_seconds histogram$/m);
    expect(m).toMatch(/^falc_task_run_seconds_count\{stage="teststage",outcome="finished"\} 5$/m);
    expect(m).toMatch(/^falc_worker_restarts_total\{stage="teststage"\} 0$/m);
    const check = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: Buffer.from(m) });
    expect(check.exitCode, check.stdout.toString() + check.stderr.toString()).toBe(0);
  }, 60_000);

  test("a clean stop leaves no socket files behind", async () => {
    const h = home();
    const w = await startWorker(h, ["--stage", "teststage", "--count", "teststage=3"]);
    expect(readdirSync(join(h, "sockets")).length).toBe(3);
    expect(await w.stop("SIGTERM")).toBe(0);
    expect(readdirSync(join(h, "sockets"))).toEqual([]);
  }, 60_000);
});

