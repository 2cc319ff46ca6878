import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import { runFalc, tempHome } from "./helpers.ts";

const homes: { cleanup(): void }[] = [];
afterEach(() => {
  while (homes.length) homes.pop()!.cleanup();
});

/** A FALC_HOME whose queue holds ended tasks (and one queued, which no prune may touch). */
async function homeWithTasks(): Promise<{ home: string; queued: string }> {
  const h = tempHome("falc-prune-");
  homes.push(h);
  const q = new SqliteQueue(join(h.home, "queue.sqlite"));
  for (let i = 0; i < 5; i++) await q.enqueue({ stage: "s", payload: i, maxAttempts: 1 });
  for (let i = 0; i < 5; i++) {
    const t = (await q.claim({ stages: ["s"], worker: "w", leaseMs: 60_000 }))!;
    if (i < 3) await q.complete(t.id, "w", { i });
    else await q.fail(t.id, "w", { message: "no" });
  }
  const queued = await q.enqueue({ stage: "s", payload: "stay", delayMs: 3_600_000 });
  await q.close();
  return { home: h.home, queued: queued.id };
}

test("falc tasks prune deletes ended tasks by age and status, never queued ones; --json reports counts", async () => {
  const { home, queued } = await homeWithTasks();
  const env = { FALC_HOME: home };
  const r = await runFalc(["tasks", "prune", "--older-than", "0s", "--json"], { env });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ deleted: 3, byStage: { s: { finished: 3 } } });
  const f = await runFalc(["tasks", "prune", "--older-than", "0s", "--status", "failed"], { env });
  expect(f.code).toBe(0);
  expect(f.stdout.trim()).toBe("2 ended tasks deleted (s failed: 2)");
  const stats = JSON.parse((await runFalc(["tasks", "stats", "--json"], { env })).stdout);
  expect(stats.s).toMatchObject({ queued: 1, finished: 0, failed: 0 });
  expect((await runFalc(["tasks", "show", queued], { env })).code).toBe(0);
});

test("falc tasks prune without flags applies retention: from falc.yaml", async () => {
  const { home } = await homeWithTasks();
  const cfg = join(home, "falc.yaml");
  writeFileSync(cfg, "retention:\n  max_finished: 1\n  stages:\n    s: { failed: forever }\n");
  const r = await runFalc(["tasks", "prune", "--json", "--config", cfg], { env: { FALC_HOME: home } });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).deleted).toBe(2);
  const stats = JSON.parse((await runFalc(["tasks", "stats", "--json"], { env: { FALC_HOME: home } })).stdout);
  expect(stats.s).toMatchObject({ finished: 1, failed: 2 });
});

test("bad prune input is one line and exit 2", async () => {
  const { home } = await homeWithTasks();
  for (const [args, msg] of [
    [["--older-than", "7x"], "invalid duration `7x`"],
    [["--older-than", "1d", "--status", "queued"], "--status must be finished or failed"],
    [["--keep=-1"], "--keep must be between"],
  ] as const) {
    const r = await runFalc(["tasks", "prune", ...args], { env: { FALC_HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(msg);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  }
  const cfg = join(home, "bad.yaml");
  writeFileSync(cfg, "retention:\n  finished: soon\n");
  const c = await runFalc(["tasks", "prune", "--config", cfg], { env: { FALC_HOME: home } });
  expect(c.code).toBe(2);
  expect(c.stderr).toContain("retention.finished");
});
