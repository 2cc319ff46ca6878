import { until } from "../../../test/scan/procs.ts";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
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
  store = ScheduleStore.open(home);
});
afterEach(async () => {
  store.close();
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
    const s = store.add({ id: "s1", targets: ["127.0.0.1-3"], profile: "fast", project: "p", mode: "update", everyS: 3600, maxConcurrent: 2 });
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
    store.add({ id: "s2", targets: ["127.0.0.9"], profile: "fast", project: "p", mode: "update", everyS: 60, maxConcurrent: 1 });
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
