import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteQueue } from "../queue/sqlite.ts";
import { retentionFrom } from "../queue/retention-rules.ts";
import { retentionPass } from "./retention.ts";

test("a retention pass deletes, batch by batch, what the rules say and nothing else", async () => {
  const dir = mkdtempSync(join(tmpdir(), "falc-ret-"));
  const q = new SqliteQueue(join(dir, "q.sqlite"));
  try {
    await q.enqueueMany(Array.from({ length: 1300 }, (_, i) => ({ stage: i % 2 ? "a" : "b", payload: i })));
    const opts = { stages: ["a", "b"], worker: "w", leaseMs: 60_000 };
    let t = await q.claim(opts);
    for (let i = 0; t && i < 1200; i++) t = (await q.completeAndClaim(t.id, "w", null, opts)).next;
    // 1,200 finished (600 per stage), one running, 99 queued.
    const before = await q.stats();
    const endedA = (await q.list({ stage: "a", status: "finished", limit: 10_000 })).map((x) => x.finishedAt!).sort((x, y) => y - x);
    expect(before.a!.finished + before.b!.finished).toBe(1200);
    const rules = retentionFrom({ max_finished: 100, stages: { b: { max_finished: "unlimited", finished: "forever" } } });
    const pass = await retentionPass(q, rules);
    expect(pass).toEqual({ deleted: 500, partial: false });
    const after = await q.stats();
    expect(after.a!.finished).toBe(100);
    expect(after.b!.finished).toBe(before.b!.finished);
    expect(after.a!.queued + after.b!.queued + after.a!.requested + after.b!.requested).toBe(100);
    // The newest 100 of stage a are the ones kept.
    const kept = (await q.list({ stage: "a", status: "finished", limit: 1000 })).map((x) => x.finishedAt!);
    expect(Math.min(...kept)).toBeGreaterThanOrEqual(endedA[99]!);
    // A budget of zero stops after the first batch check and says so.
    expect((await retentionPass(q, retentionFrom({ max_finished: 0 }), -1)).partial).toBe(true);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
