import { afterAll, afterEach, expect, test } from "bun:test";
import { tempHome, waitFor } from "./helpers.ts";
import { startWorker, stats, submit, type WorkerProc } from "./worker-helpers.ts";

const homes: { cleanup(): void }[] = [];
const running: WorkerProc[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop("SIGKILL").catch(() => {});
});
afterAll(() => homes.forEach((h) => h.cleanup()));

test("at the default level a worker writes no line per task: failures, state changes and a per-minute count", async () => {
  const h = tempHome("falc-wlog-");
  homes.push(h);
  await submit(h.home, {}, ["--count", "60"]);
  // Two tasks fail their first attempt and are retried: their failures are logged.
  await submit(h.home, { fail: "first try fails", failAttempts: 1 }, ["--count", "2"]);
  const w = await startWorker(h.home, ["--stage", "teststage", "--count", "teststage=2", "--poll-ms", "20"]);
  running.push(w);
  await waitFor(async () => (await stats(h.home)).teststage?.finished === 62, 60_000, 100, "62 finished");
  expect(await w.stop("SIGTERM")).toBe(0);
  running.pop();
  const lines = w
    .stderr()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event?: string; level: number; stages?: Record<string, Record<string, number>> });
  const events = lines.map((l) => l.event);
  expect(events).not.toContain("task_started");
  expect(events).not.toContain("task_finished");
  expect(events.filter((e) => e === "task_failed")).toHaveLength(2);
  expect(events.filter((e) => e === "worker_ready").length).toBeGreaterThanOrEqual(2);
  expect(events).toContain("handler_stopped");
  // The summary, written at the latest when the handler stops, counts every task.
  const sums = lines.filter((l) => l.event === "tasks_per_minute");
  expect(sums.length).toBeGreaterThanOrEqual(1);
  const total = (k: string) => sums.reduce((s, l) => s + (l.stages?.teststage?.[k] ?? 0), 0);
  expect(total("finished")).toBe(62);
  expect(total("failed")).toBe(2);
  expect(total("started")).toBe(64);
  // A few dozen lines for 64 runs, not two per run.
  expect(lines.length).toBeLessThan(40);
}, 120_000);
