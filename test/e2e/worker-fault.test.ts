// The fault test of the queue guarantee, on both backends: at-least-once, and no two runs of one task at the same
// time. Real handlers and children, real signals: a stage that traps SIGTERM and overruns its timeout, a SIGSTOP'd
// child, a handler SIGSTOP'd past its lease while a second handler works, random kill -9s of children and of a
// handler. The stage stamps start/tick/end of every run with CLOCK_MONOTONIC (system-wide), so overlap is read from
// the side effects, not from what the queue says. The seed is printed; FALC_FAULT_SEED=<n> replays its choices.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Queue } from "../../src/queue/types.ts";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import { RedisQueue } from "../../src/queue/redis.ts";
import { startRedis, type RedisServer } from "../redis-server.ts";
import { monoMs } from "../../src/runtime/mono-clock.ts";
import { tempHome, waitFor } from "./helpers.ts";
import { pidAlive, startWorker, type WorkerProc } from "./worker-helpers.ts";
import { seededRandom, testSeed } from "../seeded.ts";

const FAULT_STAGE = join(import.meta.dir, "../../fixtures/stages/fault-stage.ts");
const homes: { cleanup(): void }[] = [];
afterAll(() => homes.forEach((h) => h.cleanup()));

/** What one test started, ended by that test (the two scenarios run at once, so no afterEach may end the other's). */
class Started {
  workers: WorkerProc[] = [];
  servers: RedisServer[] = [];
  queues: Queue[] = [];
  stopped: number[] = [];
  async end(): Promise<void> {
    for (const pid of this.stopped.splice(0)) if (pidAlive(pid)) process.kill(pid, "SIGCONT");
    while (this.workers.length) await this.workers.pop()!.stop("SIGKILL").catch(() => {});
    while (this.queues.length) await this.queues.pop()!.close().catch(() => {});
    while (this.servers.length) await this.servers.pop()!.stop();
  }
}


interface Line {
  kind: "start" | "tick" | "end";
  id: string;
  attempt: number;
  token: number;
  pid: number;
  at: bigint;
}

function readRuns(path: string): Line[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [kind, id, attempt, token, pid, at] = l.split(" ");
      return { kind: kind as Line["kind"], id: id!, attempt: Number(attempt), token: Number(token), pid: Number(pid), at: BigInt(at!) };
    });
}

interface RunSpan {
  key: string;
  token: number;
  first: bigint;
  last: bigint;
  ended: boolean;
}

/** Every run of every task as [first line, last line]; overlaps are pairs of runs of one task whose spans intersect. */
function spans(lines: Line[]): Map<string, RunSpan[]> {
  const byTask = new Map<string, Map<string, RunSpan>>();
  for (const l of lines) {
    const runs = byTask.get(l.id) ?? new Map<string, RunSpan>();
    byTask.set(l.id, runs);
    const key = `${l.token}/${l.pid}`;
    const r = runs.get(key) ?? { key, token: l.token, first: l.at, last: l.at, ended: false };
    if (l.at < r.first) r.first = l.at;
    if (l.at > r.last) r.last = l.at;
    if (l.kind === "end") r.ended = true;
    runs.set(key, r);
  }
  return new Map([...byTask].map(([id, m]) => [id, [...m.values()].sort((a, b) => (a.first < b.first ? -1 : 1))]));
}

function overlaps(all: Map<string, RunSpan[]>): string[] {
  const out: string[] = [];
  for (const [id, runs] of all)
    for (let i = 1; i < runs.length; i++)
      for (let j = 0; j < i; j++)
        if (runs[i]!.first <= runs[j]!.last)
          out.push(`${id}: run ${runs[i]!.key} started ${(Number(runs[j]!.last - runs[i]!.first) / 1e6).toFixed(1)} ms before run ${runs[j]!.key} ended`);
  return out;
}

async function scenario(backend: "sqlite" | "redis"): Promise<void> {
  const started = new Started();
  try {
    await faults(backend, started);
  } finally {
    await started.end();
  }
}

async function faults(backend: "sqlite" | "redis", { workers, servers, queues, stopped }: Started): Promise<void> {
  const rnd = seededRandom(testSeed(`fault test on ${backend}`, "FALC_FAULT_SEED"));
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const h = tempHome("falc-fault-");
  homes.push(h);
  const log = join(h.home, "runs.log");
  let q: Queue;
  const env: Record<string, string> = {};
  if (backend === "redis") {
    const server = await startRedis();
    servers.push(server);
    env.FALC_QUEUE = server.url(0);
    const rq = new RedisQueue(env.FALC_QUEUE, { persistent: true });
    await rq.connect();
    q = rq;
  } else q = new SqliteQueue(join(h.home, "queue.sqlite"));
  queues.push(q);

  // Long runs first (priority), so both handlers are mid-run when the faults start; every fifth task overruns its
  // 5 s timeout on its first attempt with SIGTERM trapped, so only the SIGKILL after the grace stops it.
  const N = 36;
  const inputs = Array.from({ length: N }, (_, i) => {
    const long = i < 6;
    const slow = i % 5 === 4;
    return {
      stage: "faultstage",
      payload: { log, workMs: long ? 3500 : 150 + Math.floor(rnd() * 900), ...(slow ? { slowAttempts: 1, slowMs: 9000 } : {}) },
      priority: long ? 5 : 0,
      timeoutS: 5,
      maxAttempts: 20,
    };
  });
  const args = ["--stage", "faultstage", "--stage-path", FAULT_STAGE, "--count", "faultstage=3", "--lease", "3", "--poll-ms", "20"];
  let a = await startWorker(h.home, args, env);
  workers.push(a);
  const b = await startWorker(h.home, args, env);
  workers.push(b);
  const ids = new Set((await q.enqueueMany(inputs)).map((t) => t.id));
  const longIds = new Set([...ids].slice(0, 6));

  // 1. A SIGSTOP'd child: its run is still held (the handler keeps the lease) until its timeout kills the group.
  const frozenChild = await waitFor(async () => pick((await b.health()).workers.filter((w) => w.state === "working" && w.pid)), 20_000, 20, "a working child of B");
  process.kill(frozenChild.pid!, "SIGSTOP");
  stopped.push(frozenChild.pid!);
  // 2. Handler A SIGSTOP'd for two leases while one of its children is mid-run on a long task: the child must
  //    kill its own run before the lease can expire, B takes the task over, and A, woken, records nothing.
  await waitFor(async () => (await a.health()).workers.some((w) => w.state === "working" && longIds.has(w.task_id ?? "")), 20_000, 20, "A mid-run");
  process.kill(a.proc.pid, "SIGSTOP");
  stopped.push(a.proc.pid);
  await Bun.sleep(6_500);
  process.kill(a.proc.pid, "SIGCONT");
  // The frozen child is woken too: if anything of its run were still alive it would write ticks now.
  if (pidAlive(frozenChild.pid!)) process.kill(frozenChild.pid!, "SIGCONT");
  // 3. Random kill -9 of working children on both handlers.
  for (let i = 0; i < 4; i++) {
    await Bun.sleep(200 + Math.floor(rnd() * 800));
    const w = pick([a, b]);
    const victims = (await w.health().catch(() => null))?.workers.filter((x) => x.state === "working" && x.pid) ?? [];
    if (victims.length) process.kill(pick(victims).pid!, "SIGKILL");
  }
  // 4. kill -9 of handler A; a new handler takes its place.
  await Bun.sleep(Math.floor(rnd() * 1000));
  a.proc.kill("SIGKILL");
  await a.proc.exited;
  a = await startWorker(h.home, args, env);
  workers.push(a);

  await waitFor(async () => ((await q.stats()).faultstage?.finished ?? 0) === N, 150_000, 200, `all ${N} tasks finished`);
  expect(await a.stop()).toBe(0);
  expect(await b.stop()).toBe(0);

  const all = spans(readRuns(log));
  // No two runs of one task at the same time, from the side effects.
  expect(overlaps(all)).toEqual([]);
  // Nothing lost: every task finished, once, by a run that ran to its end.
  expect(new Set(all.keys())).toEqual(ids);
  for (const id of ids) {
    const t = (await q.get(id))!;
    expect(t.status).toBe("finished");
    const winner = all.get(id)!.find((r) => r.token === (t.result as { token: number }).token && r.ended);
    expect(winner, `the run that finished ${id} is on record`).toBeDefined();
  }
  const finishedEvents = new Map<string, number>();
  for (let since = 0; ; ) {
    const batch = await q.events(since, 5000);
    for (const e of batch) if (e.type === "finished") finishedEvents.set(e.taskId, (finishedEvents.get(e.taskId) ?? 0) + 1);
    if (batch.length < 5000) break;
    since = batch.at(-1)!.seq;
  }
  expect([...finishedEvents.values()].every((n) => n === 1)).toBe(true);
  expect(finishedEvents.size).toBe(N);
  // The faults were real: runs were killed (a run with no end), the overruns were stopped by SIGKILL, and A's
  // child fenced itself while A was frozen.
  const killed = [...all.values()].flat().filter((r) => !r.ended).length;
  expect(killed).toBeGreaterThanOrEqual(7);
  const logs = a.stderr() + workers.map((w) => w.stderr()).join("");
  expect(logs).toContain('"event":"lease_unconfirmed"');
  expect(logs).toContain('"event":"task_timeout"');
}

describe("the fence holds while a child's event loop is blocked", () => {
  test("handler frozen past its lease while its child is stuck in a synchronous call: the child is killed before another handler takes over", async () => {
    const started = new Started();
    try {
      await fence(started);
    } finally {
      await started.end();
    }
  }, 90_000);
});

async function fence({ workers, queues, stopped }: Started): Promise<void> {
  const h = tempHome("falc-fault-");
  homes.push(h);
  const log = join(h.home, "runs.log");
  const q = new SqliteQueue(join(h.home, "queue.sqlite"));
  queues.push(q);
  const args = ["--stage", "faultstage", "--stage-path", FAULT_STAGE, "--count", "faultstage=1", "--lease", "2", "--poll-ms", "20"];
  const a = await startWorker(h.home, args);
  workers.push(a);
  const [t] = await q.enqueueMany([{ stage: "faultstage", payload: { log, workMs: 300, blockMs: 5000 }, timeoutS: 60, maxAttempts: 5 }]);
  await waitFor(() => readRuns(log).some((l) => l.kind === "start"), 10_000, 20, "the run started (and blocks)");
  process.kill(a.proc.pid, "SIGSTOP");
  stopped.push(a.proc.pid);
  const b = await startWorker(h.home, args);
  workers.push(b);
  await waitFor(async () => (await q.get(t!.id))?.status === "finished", 30_000, 100, "B finished the task");
  // A stays frozen past the moment the blocked call would have returned (and written a line), had nothing
  // killed its child: only the child's own fence can have stopped it.
  const started = readRuns(log).find((l) => l.kind === "start")!.at;
  const left = Number(started / 1_000_000n) + 5000 + 1000 - monoMs();
  if (left > 0) await Bun.sleep(left);
  process.kill(a.proc.pid, "SIGCONT");
  await Bun.sleep(200);
  const all = spans(readRuns(log));
  expect(overlaps(all)).toEqual([]);
  const runs = all.get(t!.id)!;
  expect(runs.length).toBe(2);
  // The blocked run never got past its synchronous call: killed by the fence thread, not by the handler.
  expect(runs[0]!.ended).toBe(false);
  expect(a.stderr()).toContain('"by":"fence_thread"');
}

describe("fault test: no two runs of one task at once, nothing lost", () => {
  // The backends' scenarios share nothing (own home, queue, handlers, redis-server) and mostly wait on their stage's
  // timers and the faults' lengths: started together by whichever test comes first, they take the time of one.
  let both: Map<string, Promise<void>> | undefined;
  const run = (backend: "sqlite" | "redis"): Promise<void> => {
    both ??= new Map((["sqlite", "redis"] as const).map((b) => [b, scenario(b)]));
    // Observed now, so one failing before its own test awaits it is not an unhandled rejection; its test still fails.
    for (const p of both.values()) p.catch(() => {});
    return both.get(backend)!;
  };
  test("sqlite", () => run("sqlite"), 240_000);
  test("redis (real redis-server)", () => run("redis"), 240_000);
});
