import { until } from "../../../test/scan/procs.ts";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../core/config.ts";
import { silentLogger } from "../../core/logger.ts";
import { openQueue } from "../../queue/open.ts";
import type { Queue } from "../../queue/types.ts";
import { runSchedule, startScheduler, type TickResult } from "./scheduler.ts";
import { parseEvery, ScheduleStore } from "./store.ts";

let home: string;
let q: Queue;
let cfg: Config;
let store: ScheduleStore;
beforeEach(async () => {
  home = mkdtempSync(join(tmpdir(), "falc-sched-"));
  cfg = loadConfig({ home, configPath: undefined }, { FALC_HOME: home });
  q = await openQueue("sqlite", { home, defaultMaxAttempts: 1 });
  store = await ScheduleStore.forQueue(q, home);
});
afterEach(async () => {
  await q.close();
  rmSync(home, { recursive: true, force: true });
});

const finish = async (id: string) => {
  const t = await q.claim({ stages: ["scan"], worker: "w", leaseMs: 10_000 });
  expect(t?.id).toBe(id);
  await q.start(id, "w");
  await q.complete(id, "w", {});
};

describe("scan schedules", () => {
  test("intervals parse", () => {
    expect(parseEvery("30m")).toBe(1800);
    expect(parseEvery("2d")).toBe(172800);
    expect(() => parseEvery("10s")).toThrow(/30m, 6h or 1d/);
    expect(() => parseEvery("0m")).toThrow(/at least 1m/);
  });

  test("never starts an active target or one finished within the interval; respects the cap", async () => {
    const s = await store.add({ id: "s1", targets: ["127.0.0.1-3"], profile: "fast", project: "p", mode: "update", everyS: 3600, maxConcurrent: 2 });
    const r1 = await runSchedule(q, store, s, cfg);
    expect(r1.enqueued.map((e) => e.ip)).toEqual(["127.0.0.1", "127.0.0.2"]);
    expect(r1.skipped).toEqual([{ ip: "127.0.0.3", why: "cap" }]);
    const r2 = await runSchedule(q, store, s, cfg);
    expect(r2.enqueued).toEqual([]);
    expect(r2.skipped.map((x) => x.why)).toEqual(["active", "active", "cap"]);
    await finish(r1.enqueued[0]!.taskId);
    const r3 = await runSchedule(q, store, s, cfg);
    expect(r3.enqueued.map((e) => e.ip)).toEqual(["127.0.0.3"]);
    expect(r3.skipped).toEqual([{ ip: "127.0.0.1", why: "recent" }, { ip: "127.0.0.2", why: "active" }]);
    // After the interval the finished target is due again (cap permitting).
    await finish(r1.enqueued[1]!.taskId);
    const r4 = await runSchedule(q, store, s, cfg, { now: Date.now() + 3601_000 });
    expect(r4.enqueued.map((e) => e.ip)).toEqual(["127.0.0.1"]);
    // run-now ignores the interval, never the active check.
    const r5 = await runSchedule(q, store, s, cfg, { force: true });
    expect(r5.enqueued.map((e) => e.ip)).toEqual([]);
    expect(r5.skipped.map((x) => x.why)).toEqual(["active", "active", "cap"]);
    // The task went created → queued → requested → started → finished.
    const id = r1.enqueued[0]!.taskId;
    const ev = (await q.events(0, 1000)).filter((e) => e.taskId === id).map((e) => e.type);
    expect(ev).toEqual(["created", "queued", "requested", "started", "finished"]);
  });

  test("one leader among schedulers; a follower takes over when the leader stops", async () => {
    await store.add({ id: "s2", targets: ["127.0.0.9"], profile: "fast", project: "p", mode: "update", everyS: 60, maxConcurrent: 1 });
    const a = new AbortController(), b = new AbortController();
    const ticks: Record<string, TickResult[][]> = { a: [], b: [] };
    const pa = startScheduler({ queue: q, config: cfg, log: silentLogger, signal: a.signal, tickMs: 100, lockTtlMs: 600, owner: "a", onTick: (r) => ticks.a!.push(r) });
    await until(() => ticks.a!.length > 0, "a to lead");
    const pb = startScheduler({ queue: q, config: cfg, log: silentLogger, signal: b.signal, tickMs: 100, lockTtlMs: 600, owner: "b", onTick: (r) => ticks.b!.push(r) });
    // b is running: while a ticks three more times, b never does.
    const seen = ticks.a!.length;
    await until(() => ticks.a!.length >= seen + 3, "a to tick on");
    expect(ticks.b!.length).toBe(0);
    expect((await q.list({ stage: "scan" })).length).toBe(1);
    a.abort();
    await pa;
    await until(() => ticks.b!.length > 0, "b to take over", 5_000);
    b.abort();
    await pb;
    expect((await q.list({ stage: "scan" })).length).toBe(1);
  });
});

describe("a leader killed mid-tick", () => {
  test("between recording a target's task id and queueing it: the next leader queues that id, never a second task", async () => {
    const s = await store.add({ id: "k1", targets: ["127.0.0.1-2"], profile: "fast", project: "p", mode: "update", everyS: 3600, maxConcurrent: 8 });
    const now = Date.now();
    // The dead leader recorded .1's id and queued it, recorded .2's id and died before queueing it.
    await q.enqueue({ id: "tk1a", stage: "scan", payload: {} });
    await store.setLastTask(s.id, "127.0.0.1", "tk1a", now, "k1-1");
    await store.setLastTask(s.id, "127.0.0.2", "tk1b", now, "k1-1");
    const r = await runSchedule(q, store, s, cfg, { now: now + 5000 });
    expect(r.enqueued).toEqual([{ ip: "127.0.0.2", taskId: "tk1b" }]);
    expect(r.skipped).toEqual([{ ip: "127.0.0.1", why: "active" }]);
    expect(((await q.get("tk1b"))!.payload as { run_id: string }).run_id).toBe("k1-1");
    // A stalled old leader that queues the same id later is refused by the queue: still one task.
    await expect(q.enqueue({ id: "tk1b", stage: "scan", payload: {} })).rejects.toThrow(/already exists/);
    const again = await runSchedule(q, store, s, cfg, { now: now + 6000 });
    expect(again.enqueued).toEqual([]);
    expect((await q.list({ stage: "scan" })).length).toBe(2);
  });
});

describe("schedules live on the queue backend", () => {
  test("a schedule added from one FALC_HOME is seen from another home on the same queue", async () => {
    const shared = `sqlite:${join(home, "shared-queue.sqlite")}`;
    const a = mkdtempSync(join(tmpdir(), "falc-sched-a-"));
    const b = mkdtempSync(join(tmpdir(), "falc-sched-b-"));
    const qa = await openQueue(shared, { home: a });
    const qb = await openQueue(shared, { home: b });
    try {
      await (await ScheduleStore.forQueue(qa, a)).add({ id: "from-a", targets: ["127.0.0.1"], profile: "fast", project: "p", mode: "update", everyS: 60, maxConcurrent: 1 });
      expect((await (await ScheduleStore.forQueue(qb, b)).list()).map((s) => s.id)).toEqual(["from-a"]);
    } finally {
      await qa.close();
      await qb.close();
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  test("schedules of an earlier falc's per-home file are imported once, with their last tasks, and the file kept aside", async () => {
    const legacyHome = mkdtempSync(join(tmpdir(), "falc-sched-legacy-"));
    mkdirSync(join(legacyHome, "scan"));
    const path = join(legacyHome, "scan", "schedules.sqlite");
    // The schema earlier falc versions wrote, without a schema version.
    const db = new Database(path, { create: true });
    db.exec(`CREATE TABLE schedules (id TEXT PRIMARY KEY, targets TEXT NOT NULL, profile TEXT NOT NULL, project TEXT NOT NULL, mode TEXT NOT NULL,
        every_s INTEGER NOT NULL, max_concurrent INTEGER NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL, last_run_at INTEGER);
      CREATE TABLE schedule_targets (schedule_id TEXT NOT NULL, ip TEXT NOT NULL, task_id TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (schedule_id, ip));
      INSERT INTO schedules VALUES ('old1', '["10.9.0.0/30"]', '"fast"', 'acme', 'update', 3600, 4, 1, 1000, 2000);
      INSERT INTO schedule_targets VALUES ('old1', '10.9.0.1', 'tOLD', 1500);`);
    db.close();
    const s1 = await ScheduleStore.forQueue(q, legacyHome);
    expect(await s1.get("old1")).toMatchObject({ targets: ["10.9.0.0/30"], profile: "fast", project: "acme", everyS: 3600, maxConcurrent: 4, lastRunAt: 2000 });
    expect([...(await s1.lastTasks("old1"))]).toEqual([["10.9.0.1", { taskId: "tOLD", createdAt: 1500 }]]);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(join(legacyHome, "scan")).some((f) => f.startsWith("schedules.sqlite.imported-"))).toBe(true);
    // Opening again imports nothing twice.
    expect((await (await ScheduleStore.forQueue(q, legacyHome)).list()).filter((s) => s.id === "old1").length).toBe(1);
    rmSync(legacyHome, { recursive: true, force: true });
  });
});
