// falc ui on the Redis backend: a live `falc worker` on a private redis-server, the UI in tmux.
import { afterEach, describe, expect, test } from "bun:test";
import { RedisQueue } from "../../src/queue/redis.ts";
import { startRedis, type RedisServer } from "../redis-server.ts";
import { tempHome, waitFor } from "./helpers.ts";
import { startUi, type TmuxUi } from "./ui-helpers.ts";
import { startWorker, TEST_STAGE, type WorkerProc } from "./worker-helpers.ts";

let ui: TmuxUi | null = null;
let worker: WorkerProc | null = null;
let queue: RedisQueue | null = null;
let redis: RedisServer | null = null;
const homes: { cleanup(): void }[] = [];

afterEach(async () => {
  ui?.stop();
  ui = null;
  if (worker) await worker.stop("SIGKILL");
  worker = null;
  await queue?.close();
  queue = null;
  await redis?.stop();
  redis = null;
  homes.splice(0).forEach((h) => h.cleanup());
});

describe("falc ui on Redis", () => {
  test("a live worker's states and counts; a cancel from the TUI reaches the running task", async () => {
    redis = await startRedis();
    const url = redis.url(0);
    const wh = tempHome("falc-ui-redis-w-");
    const uh = tempHome("falc-ui-redis-u-");
    homes.push(wh, uh);
    worker = await startWorker(wh.home, ["--stage", "teststage", "--stage-path", TEST_STAGE, "--count", "teststage=2", "--poll-ms", "50", "--lease", "60"], { FALC_QUEUE: url });
    queue = new RedisQueue(url);
    await queue.connect();
    const q = queue;
    const quick = await q.enqueueMany(Array.from({ length: 2 }, () => ({ stage: "teststage", payload: { sleepMs: 3000, progress: 3 } })));
    // The UI runs on another "machine": its own FALC_HOME, the same Redis.
    ui = await startUi(uh.home, [], { FALC_QUEUE: url });
    await ui.waitFor(url, 15_000, "queue URL in the header");
    const health = await waitFor(async () => {
      const hl = await worker!.health();
      return hl.workers.filter((w) => w.state === "working").length === 2 && hl;
    }, 15_000, 100, "both children working");
    for (const w of health.workers) {
      expect(quick.map((t) => t.id)).toContain(w.task_id!);
      await ui.waitFor(new RegExp(`${w.name}@\\S+\\s+\\S+\\s+teststage\\s+working\\s+${w.task_id}`), 10_000, `${w.name} working on ${w.task_id}`);
    }
    ui.keys("2");
    await ui.waitFor(/teststage\s+0\s+2\s+0\s+0/, 10_000, "queues view: 2 started");
    await ui.waitFor(/teststage\s+0\s+0\s+2\s+0/, 15_000, "queues view: 2 finished");
    ui.keys("1");
    for (const w of health.workers) await ui.waitFor(new RegExp(`${w.name}@\\S+\\s+\\S+\\s+teststage\\s+idle`), 10_000, `${w.name} idle`);

    // A long task; cancel it from the tasks view. The 60 s lease means only the pushed cancel is this quick.
    const long = await q.enqueue({ stage: "teststage", payload: { sleepMs: 60_000 } });
    await waitFor(async () => (await worker!.health()).workers.some((w) => w.task_id === long.id), 10_000, 50, "long task running");
    ui.keys("3");
    ui.keys("/", "status:started", "Enter");
    await ui.waitFor(new RegExp(`> ${long.id}\\s+teststage\\s+started`), 10_000, "long task selected");
    ui.keys("c");
    await ui.waitFor(`Cancel task ${long.id}? (y/n)`, 5000, "confirm prompt");
    ui.keys("y");
    await ui.waitFor(`${long.id} is now cancelled`, 5000, "cancel message");
    await waitFor(async () => (await worker!.health()).workers.every((w) => w.state === "idle"), 8000, 50, "worker stopped the cancelled task");
    expect((await q.get(long.id))!.status).toBe("cancelled");
    ui.keys("2");
    await ui.waitFor(/teststage\s+0\s+0\s+2\s+0\s+1/, 10_000, "queues view: 2 finished, 1 cancelled");
    ui.keys("q");
    expect(await ui.waitFor("FALC_EXIT=", 10_000, "exit")).toContain("FALC_EXIT=0");
  }, 90_000);
});
