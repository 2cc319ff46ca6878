import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteQueue } from "./sqlite.ts";
import { QUEUE_MIGRATIONS } from "./sqlite-schema.ts";

const FIXTURE = join(import.meta.dir, "../../fixtures/queue/queue-v0.sqlite");

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "falc-qschema-"));
}

test("a queue file written before schema versions opens, migrates, and keeps every task as it was", async () => {
  const dir = tmp();
  try {
    const path = join(dir, "queue.sqlite");
    copyFileSync(FIXTURE, path);
    const q = new SqliteQueue(path);
    const stats = await q.stats();
    expect(stats.s).toMatchObject({ queued: 3, cancelled: 1 });
    expect(stats.t).toMatchObject({ queued: 1, requested: 1, finished: 1, failed: 1 });
    expect((await q.get("v0-fin"))?.result).toEqual({ ok: true });
    // Endings recorded before the migration are counted (the fixture's are recent enough).
    const created = (await q.get("v0-fin"))!.createdAt;
    if (Date.now() - created < 172_800_000) expect(await q.countEnded(0)).toEqual({ s: { finished: 0, failed: 1 }, t: { finished: 1, failed: 1 } });
    else expect(await q.countEnded(0)).toEqual({});
    // Due tasks are claimable; delayed ones and the one in backoff are not, whatever they were before.
    expect((await q.claim({ stages: ["s", "t"], worker: "new", leaseMs: 1000 }))?.id).toBe("v0-queued");
    expect(await q.claim({ stages: ["s", "t"], worker: "new", leaseMs: 1000 })).toBeNull();
    await q.close();
    const db = new Database(path, { readonly: true });
    expect((db.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(QUEUE_MIGRATIONS.length);
    db.close();
    // Opening again does nothing more.
    const again = new SqliteQueue(path);
    expect((await again.stats()).s?.requested).toBe(1);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a new queue file gives freed pages back (incremental auto-vacuum)", async () => {
  const dir = tmp();
  try {
    const path = join(dir, "queue.sqlite");
    await new SqliteQueue(path).close();
    const db = new Database(path, { readonly: true });
    expect((db.query("PRAGMA auto_vacuum").get() as { auto_vacuum: number }).auto_vacuum).toBe(2);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A tiny seeded PRNG so a failing sequence can be replayed with FALC_TEST_SEED. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test("randomized: claims pick what a full scan of due tasks picks; counters equal GROUP BY counts", async () => {
  const seed = Number(process.env.FALC_TEST_SEED ?? Date.now() % 1_000_000);
  console.log(`seed ${seed} (replay with FALC_TEST_SEED=${seed})`);
  const rand = rng(seed);
  const dir = tmp();
  try {
    const path = join(dir, "queue.sqlite");
    const q = new SqliteQueue(path, { retryBaseMs: 1 });
    const ref = new Database(path, { readonly: true });
    const stages = ["a", "b", "c"];
    const held: { id: string; worker: string }[] = [];
    for (let step = 0; step < 600; step++) {
      const r = rand();
      if (r < 0.35) {
        const delay = rand() < 0.4 ? Math.floor(rand() * 30) : 0;
        await q.enqueue({ stage: stages[Math.floor(rand() * 3)]!, payload: step, priority: Math.floor(rand() * 3), delayMs: delay, maxAttempts: 2 });
      } else if (r < 0.65) {
        const want = stages.filter(() => rand() < 0.6);
        if (!want.length) continue;
        // The reference: the best due queued task of those stages before the claim, by a full scan. A task
        // that came due between that scan and the claim may be taken instead, but never a worse one.
        const best = ref
          .query(
            `SELECT id, priority, created_at AS c, rowid AS r FROM tasks NOT INDEXED WHERE status='queued' AND run_at <= ?
             AND stage IN (${want.map(() => "?").join(",")}) ORDER BY priority DESC, created_at ASC, rowid ASC LIMIT 1`,
          )
          .get(Date.now(), ...want) as { id: string; priority: number; c: number; r: number } | null;
        const t = await q.claim({ stages: want, worker: `w${step}`, leaseMs: 60_000 });
        if (!t) expect(best).toBeNull();
        else {
          expect(want).toContain(t.stage);
          expect(t.runAt).toBeLessThanOrEqual(Date.now());
          const got = ref.query("SELECT priority, created_at AS c, rowid AS r FROM tasks WHERE id=?").get(t.id) as { priority: number; c: number; r: number };
          if (best && best.id !== t.id) {
            const outranks = best.priority > got.priority || (best.priority === got.priority && (best.c < got.c || (best.c === got.c && best.r < got.r)));
            expect(outranks).toBe(false);
          }
          held.push({ id: t.id, worker: `w${step}` });
        }
      } else if (held.length) {
        const h = held.splice(Math.floor(rand() * held.length), 1)[0]!;
        const x = rand();
        if (x < 0.3) await q.complete(h.id, h.worker, null);
        else if (x < 0.5) {
          // Completions that claim the next task, two at once when two are held: one group commit.
          const pair = [h, ...held.splice(0, rand() < 0.5 ? 1 : 0)];
          const next = { stages: [stages[Math.floor(rand() * 3)]!], leaseMs: 60_000 };
          const res = await Promise.all(pair.map((p) => q.completeAndClaim(p.id, p.worker, null, { ...next, worker: p.worker, start: rand() < 0.5 })));
          res.forEach((r, i) => r.next && held.push({ id: r.next.id, worker: pair[i]!.worker }));
        }
        else if (x < 0.8) await q.fail(h.id, h.worker, { message: "x" }, { delayMs: Math.floor(rand() * 20) });
        else if (x < 0.9) await q.release(h.id, h.worker);
        else await q.cancel(h.id);
      }
      if (step % 50 === 0) {
        const counted = ref.query("SELECT stage, status, count(*) AS n FROM tasks NOT INDEXED GROUP BY stage, status").all() as { stage: string; status: string; n: number }[];
        const stats = await q.stats();
        for (const c of counted) expect(stats[c.stage]?.[c.status as "queued"]).toBe(c.n);
        for (const [stage, by] of Object.entries(stats))
          for (const [st, n] of Object.entries(by)) expect([stage, st, n]).toEqual([stage, st, counted.find((c) => c.stage === stage && c.status === st)?.n ?? 0]);
        // Endings per 10 s buckets (no task here ends twice) add up to the ended rows.
        const ended = await q.countEnded(0);
        for (const stage of stages) {
          const n = (st: string) => counted.find((c) => c.stage === stage && c.status === st)?.n ?? 0;
          expect(ended[stage] ?? { finished: 0, failed: 0 }).toEqual({ finished: n("finished"), failed: n("failed") + n("cancelled") });
        }
      }
    }
    ref.close();
    await q.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
