import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../core/config.ts";
import { silentLogger } from "../core/logger.ts";
import type { StageContext } from "../core/stage.ts";
import { openQueue } from "../queue/open.ts";
import { startRedis, type RedisServer } from "../../test/redis-server.ts";
import type { Queue } from "../queue/types.ts";
import { Ledger } from "./ledger.ts";
import { scanStage } from "./stage.ts";
import { loadProfile } from "./profile.ts";
import { submitScan, type ScanPlan } from "./scan-request.ts";
import { targetTaskId } from "./sweep-task.ts";

let home: string;
let q: Queue;
let cfg: Config;
let redis: RedisServer;
let db = 0;
// scripts/setup installs redis-server: without it this fails, it is not skipped.
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const ctxFor = async (attempt: number): Promise<StageContext> => {
  const task = (await q.get((await q.list({ stage: "scan", limit: 1, order: "oldest" }))[0]!.id))!;
  const workDir = join(home, `work-${attempt}`);
  mkdirSync(workDir);
  return { config: cfg, home, log: silentLogger, worker: "scan0", task, signal: new AbortController().signal, progress: () => {}, queue: q, workDir };
};

describe.each(["sqlite", "redis"])("on the %s queue", (kind) => {
  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), "falc-sweep-"));
    cfg = loadConfig({ home, configPath: undefined }, { FALC_HOME: home });
    q = await openQueue(kind === "sqlite" ? "sqlite" : redis.url(++db), { home, defaultMaxAttempts: 1 });
  });
  afterEach(async () => {
    await q.close();
    rmSync(home, { recursive: true, force: true });
  });

  describe("a submitted run's host sweep task", () => {
    // Loopback answers for every 127/8 address: all up, so each gets its target task.
    const targets = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    const payload = { targets, hostnames: { "127.0.0.2": ["two.lab.test"] }, profile: "fast", project: "sw", run_id: "scan-t1" };

    test("queues one -sn-skipping task per live host under ids named for run and target; run again (a crash after enqueue), it queues none twice", async () => {
      await q.enqueue({ stage: "scan", payload });
      const parsed = scanStage.payloadSchema.parse(payload);
      const first = (await scanStage.run(parsed, await ctxFor(1))) as { up: number; tasks: { id: string }[] };
      expect(first.up).toBe(3);
      const again = (await scanStage.run(parsed, await ctxFor(2))) as { up: number; tasks: { id: string }[] };
      expect(again.tasks).toEqual(first.tasks);
      const queued = (await q.list({ stage: "scan", status: "queued", limit: 100 })).filter((t) => (t.payload as { target?: string }).target);
      expect(queued.map((t) => t.id).sort()).toEqual(targets.map((ip) => targetTaskId("scan-t1", ip)).sort());
      for (const t of queued) expect(t.payload).toMatchObject({ profile: "fast", project: "sw", run_id: "scan-t1", swept: true });
      expect(queued.find((t) => (t.payload as { target: string }).target === "127.0.0.2")!.payload).toMatchObject({ hostnames: ["two.lab.test"] });
      // Nothing is down: the run is not recorded until its targets are scanned.
      const l = Ledger.open(home);
      try {
        expect(() => l.runs("sw")).toThrow(/no scans yet/);
      } finally {
        l.close();
      }
    }, 30_000);

    test("a sweep that fails on its last attempt records every target failed in the run (partial), and queues nothing", async () => {
      writeFileSync(join(home, "bad.yaml"), "scan:\n  nmap: /bin/false\n");
      cfg = loadConfig({ home, configPath: join(home, "bad.yaml") }, { FALC_HOME: home });
      await q.enqueue({ stage: "scan", payload });
      // Handed out as a worker gets it: its one attempt (max_attempts 1 here).
      const task = (await q.claim({ stages: ["scan"], worker: "scan0", leaseMs: 30_000, start: true }))!;
      expect(task.attempts).toBe(task.maxAttempts);
      await expect(scanStage.run(scanStage.payloadSchema.parse(payload), { ...(await ctxFor(1)), task })).rejects.toThrow(/host discovery failed/);
      expect((await q.list({ stage: "scan", limit: 100 })).length).toBe(1);
      const l = Ledger.open(home);
      try {
        expect(l.run("scan-t1")).toMatchObject({ status: "partial", targets, hosts: [] });
      } finally {
        l.close();
      }
    });

    test("a payload is either one target or a sweep of several, never both", () => {
      expect(() => scanStage.payloadSchema.parse({ target: "127.0.0.1", targets: ["127.0.0.2"], run_id: "r" })).toThrow();
      expect(() => scanStage.payloadSchema.parse({ targets: [] , run_id: "r" })).toThrow();
      expect(() => scanStage.payloadSchema.parse({ targets: ["127.0.0.1"] })).toThrow();
    });
  });

  describe("submitting a run", () => {
    const plan = (ips: string[], profile = loadProfile("fast")): ScanPlan => ({
      profile, project: "sw", mode: "update", parallel: 8, refused: [], expected: null, before: new Set(),
      targets: ips.map((ip) => ({ ip, family: 4 as const, hostnames: [], input: ip })),
    });

    test("several targets: one sweep task; a target of a queued sweep is refused as busy; one target or no discovery: a task per target", async () => {
      const a = await submitScan(q, plan(["127.0.0.1", "127.0.0.2"]), "fast");
      expect(a.sweep).toBeDefined();
      expect(a.tasks).toEqual([{ id: a.sweep!, target: "2 targets (host sweep)" }]);
      expect((await q.get(a.sweep!))!.payload).toMatchObject({ targets: ["127.0.0.1", "127.0.0.2"], profile: "fast", run_id: a.runId });
      const b = await submitScan(q, plan(["127.0.0.2", "127.0.0.3", "127.0.0.4"]), "fast");
      expect(b.busy).toEqual(["127.0.0.2"]);
      expect((await q.get(b.sweep!))!.payload).toMatchObject({ targets: ["127.0.0.3", "127.0.0.4"] });
      const c = await submitScan(q, plan(["127.0.0.5"]), "fast");
      expect(c.sweep).toBeUndefined();
      expect(c.tasks.map((t) => t.target)).toEqual(["127.0.0.5"]);
      const d = await submitScan(q, plan(["127.0.0.6", "127.0.0.7"], { ...loadProfile("fast"), skip_host_discovery: true }), "fast");
      expect(d.sweep).toBeUndefined();
      expect(d.tasks.map((t) => t.target).sort()).toEqual(["127.0.0.6", "127.0.0.7"]);
      expect(a.runId).not.toBe(b.runId);
    });
  });
});
