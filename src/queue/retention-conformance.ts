/**
 * Retention and paging, the same on every backend: prune deletes only ended tasks, oldest first, in
 * batches of at most `limit`; pages walk every task exactly once in order. Called beside queueConformance.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Task } from "../core/task.ts";
import type { BackendFactory, ConformanceBackend } from "./conformance.ts";
import type { Queue } from "./types.ts";
import { seededRandom, testSeed } from "../../test/seeded.ts";

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** Make tasks end as asked, one claim at a time so each ends after the one before (finishedAt grows). */
async function endAs(q: Queue, stage: string, how: ("finished" | "failed" | "cancelled" | "queued" | "running")[]): Promise<Task[]> {
  const out: Task[] = [];
  for (const h of how) {
    // A task meant to stay queued waits an hour, so the next claim cannot take it.
    const t = await q.enqueue({ stage, payload: { h }, maxAttempts: 1, delayMs: h === "queued" ? 3_600_000 : 0 });
    if (h === "cancelled") await q.cancel(t.id);
    else if (h !== "queued") {
      const c = await q.claim({ stages: [stage], worker: "w", leaseMs: 60_000 });
      expect(c?.id).toBe(t.id);
      if (h === "finished") await q.complete(t.id, "w", { ok: 1 });
      if (h === "failed") await q.fail(t.id, "w", { message: "no" });
    }
    out.push(t);
    // finishedAt has millisecond resolution: keep the order of endings unambiguous.
    const until = Date.now() + 2;
    while (Date.now() < until) await Bun.sleep(1);
  }
  return out;
}

export function retentionConformance(name: string, factory: BackendFactory) {
  describe(`retention and paging: ${name}`, () => {
    const open: ConformanceBackend[] = [];
    const make = async () => {
      const b = await factory({ retryBaseMs: 50 });
      open.push(b);
      return b.queue;
    };
    afterEach(async () => {
      while (open.length) await open.pop()!.dispose();
    });

    test("prune by age deletes ended tasks of one stage and bucket, never queued or running ones, at most limit a call", async () => {
      const q = await make();
      const ts = await endAs(q, "s", ["finished", "finished", "finished", "failed", "cancelled", "queued", "running"]);
      await endAs(q, "other", ["finished"]);
      const cut = Date.now() + 1;
      expect(await q.prune({ stage: "s", bucket: "finished", endedBefore: cut, limit: 2 })).toBe(2);
      expect(await q.prune({ stage: "s", bucket: "finished", endedBefore: cut, limit: 2 })).toBe(1);
      expect(await q.prune({ stage: "s", bucket: "finished", endedBefore: cut, limit: 2 })).toBe(0);
      for (const t of ts.slice(0, 3)) expect(await q.get(t.id)).toBeNull();
      // failed + cancelled are the other bucket.
      expect((await q.stats()).s).toMatchObject({ finished: 0, failed: 1, cancelled: 1, queued: 1, requested: 1 });
      expect(await q.prune({ stage: "s", bucket: "failed", endedBefore: cut, limit: 100 })).toBe(2);
      expect((await q.stats()).s).toMatchObject({ finished: 0, failed: 0, cancelled: 0, queued: 1, requested: 1 });
      expect((await q.stats()).other?.finished).toBe(1);
      expect((await q.list({ stage: "s" })).map((t) => t.id).sort()).toEqual([ts[5]!.id, ts[6]!.id].sort());
      // Nothing ended before a time in the past.
      expect(await q.prune({ stage: "other", bucket: "finished", endedBefore: 1, limit: 100 })).toBe(0);
    });

    test("countEnded counts finished and failed-or-cancelled tasks by end time", async () => {
      const q = await make();
      const t0 = Date.now();
      await endAs(q, "s", ["finished", "failed", "cancelled", "queued", "running", "finished"]);
      const mid = Date.now();
      await endAs(q, "s", ["finished"]);
      await endAs(q, "u", ["failed"]);
      expect(await q.countEnded(t0)).toEqual({ s: { finished: 3, failed: 2 }, u: { finished: 0, failed: 1 } });
      expect((await q.countEnded(mid)).s).toEqual({ finished: 1, failed: 0 });
      const later = await q.countEnded(Date.now() + 60_000);
      for (const v of Object.values(later)) expect(v).toEqual({ finished: 0, failed: 0 });
    });

    test("countEnded(since, until) is half-open at both ends, to the millisecond", async () => {
      const q = await make();
      const ts = await endAs(q, "s", ["finished", "failed", "finished", "cancelled", "finished"]);
      const ends = await Promise.all(ts.map(async (t) => (await q.get(t.id))!.finishedAt!));
      const failedAt = new Set([1, 3]);
      // Every pair of ending times as [since, until): what a TUI re-count at one of them must see.
      for (let a = 0; a < ends.length; a++)
        for (let b = a; b < ends.length; b++) {
          const want = { finished: 0, failed: 0 };
          for (let i = a; i < b; i++) want[failedAt.has(i) ? "failed" : "finished"]++;
          const got = (await q.countEnded(ends[a]!, ends[b]!)).s ?? { finished: 0, failed: 0 };
          expect([a, b, got]).toEqual([a, b, want]);
        }
      expect((await q.countEnded(ends[4]!)).s).toEqual({ finished: 1, failed: 0 });
      // From an hour back: whole 10 s buckets, then the partial one that holds `until`.
      for (let b = 0; b <= ends.length; b++) {
        const want = { finished: 0, failed: 0 };
        for (let i = 0; i < b; i++) want[failedAt.has(i) ? "failed" : "finished"]++;
        const until = b < ends.length ? ends[b]! : Date.now() + 1;
        expect((await q.countEnded(ends[0]! - 3_600_000, until)).s ?? { finished: 0, failed: 0 }).toEqual(want);
      }
    });

    test("prune by count keeps the newest N of a bucket", async () => {
      const q = await make();
      const ts = await endAs(q, "s", ["finished", "failed", "finished", "cancelled", "finished", "failed", "finished", "finished"]);
      while ((await q.prune({ stage: "s", bucket: "finished", keepNewest: 2, limit: 1 })) > 0);
      const fin = ts.filter((_, i) => [0, 2, 4, 6, 7].includes(i));
      for (const t of fin.slice(0, 3)) expect(await q.get(t.id)).toBeNull();
      for (const t of fin.slice(3)) expect((await q.get(t.id))?.status).toBe("finished");
      expect(await q.prune({ stage: "s", bucket: "failed", keepNewest: 1, limit: 10 })).toBe(2);
      expect((await q.get(ts[5]!.id))?.status).toBe("failed");
      expect((await q.stats()).s).toMatchObject({ finished: 2, failed: 1, cancelled: 0 });
    });

    test("randomized: pages of every size walk all tasks once, in order, for any filter (seeded)", async () => {
      const seed = Number(process.env.FALC_TEST_SEED ?? Date.now() % 1_000_000);
      console.log(`${name} paging seed ${seed} (replay with FALC_TEST_SEED=${seed})`);
      const rand = rng(seed);
      const q = await make();
      const kinds = ["finished", "failed", "cancelled", "queued", "running"] as const;
      for (const stage of ["a", "b", "c"]) {
        const how = Array.from({ length: 8 + Math.floor(rand() * 10) }, () => kinds[Math.floor(rand() * kinds.length)]!);
        await endAs(q, stage, how);
        // Some in one batch: the same createdAt, told apart by creation order.
        await q.enqueueMany(Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, i) => ({ stage, payload: i })));
      }
      const all = await q.list({ limit: 100_000 });
      for (const filter of [{}, { stage: "b" }, { status: "queued" as const }, { stage: "a", status: ["finished", "failed"] as ("finished" | "failed")[] }]) {
        for (const order of ["newest", "oldest"] as const) {
          const want = all
            .filter((t) => (!("stage" in filter) || t.stage === filter.stage) && (!("status" in filter) || ([filter.status].flat() as string[]).includes(t.status)))
            .map((t) => t.id);
          if (order === "oldest") want.reverse();
          const size = 1 + Math.floor(rand() * 5);
          const got: string[] = [];
          let after: string | null = null;
          for (let guard = 0; guard < 1000; guard++) {
            const p = await q.page({ ...filter, order, limit: size, after });
            expect(p.tasks.length).toBeLessThanOrEqual(size);
            got.push(...p.tasks.map((t) => t.id));
            if (!p.next) break;
            after = p.next;
          }
          expect(got).toEqual(want);
        }
      }
    });

    test("text search finds any kept task by the start of its id, however old, page after page", async () => {
      const q = await make();
      const old = await q.enqueue({ stage: "s", payload: 0, id: "needle-old-one" });
      await q.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ stage: "s", payload: i })));
      expect((await q.page({ text: "needle-old", limit: 10 })).tasks.map((t) => t.id)).toEqual([old.id]);
      expect((await q.page({ text: "old-one", limit: 10 })).tasks).toEqual([]);
      expect((await q.page({ text: "no-such-thing", limit: 10 })).tasks).toEqual([]);
      await expect(q.page({ text: "t", after: "12.3" })).rejects.toThrow(/invalid page cursor/);
    });

    test("randomized: a search pages through exactly the tasks a full list says match, for any filter (seeded)", async () => {
      const rand = seededRandom(testSeed(`${name} search`));
      const q = await make();
      // Ids from a small alphabet share many prefixes; some tasks run, held by workers with searchable names.
      const letters = "abAB-é";
      const pick = (n: number) => Array.from({ length: n }, () => letters[Math.floor(rand() * letters.length)]).join("");
      const ids = new Set<string>();
      while (ids.size < 60) ids.add(pick(1 + Math.floor(rand() * 4)) + String(ids.size));
      const stages = ["s", "u"];
      await q.enqueueMany([...ids].map((id) => ({ id, stage: stages[Math.floor(rand() * 2)]!, payload: null })));
      for (let i = 0; i < 8; i++) {
        const t = await q.claim({ stages, worker: `Host${i % 3}-bee`, leaseMs: 60_000 });
        if (t && i % 2) await q.complete(t.id, t.worker!, null);
      }
      const all = await q.list({ limit: 10_000 });
      expect(all.length).toBe(60);
      const sortBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
      for (let round = 0; round < 12; round++) {
        const text = rand() < 0.25 ? ["host1", "BEE", "-b"][Math.floor(rand() * 3)]! : pick(1 + Math.floor(rand() * 2));
        const filter = [{}, { stage: "u" }, { status: ["requested", "queued"] as ("requested" | "queued")[] }][Math.floor(rand() * 3)]!;
        const order = rand() < 0.5 ? ("newest" as const) : ("oldest" as const);
        const running = (t: Task) => t.status === "requested" || t.status === "started";
        const want = all
          .filter((t) => t.id.startsWith(text) || (running(t) && t.worker!.toLowerCase().includes(text.toLowerCase())))
          .filter((t) => (!("stage" in filter) || t.stage === filter.stage) && (!("status" in filter) || filter.status!.includes(t.status as "queued")))
          .map((t) => t.id)
          .sort(sortBytes);
        if (order === "newest") want.reverse();
        const size = 1 + Math.floor(rand() * 4);
        const got: string[] = [];
        let after: string | null = null;
        for (let guard = 0; guard < 200; guard++) {
          const p = await q.page({ ...filter, text, order, limit: size, after });
          expect(p.tasks.length).toBeLessThanOrEqual(size);
          got.push(...p.tasks.map((t) => t.id));
          if (!p.next) break;
          after = p.next;
        }
        expect(got, `search ${JSON.stringify(text)} ${JSON.stringify(filter)} ${order} by ${size}`).toEqual(want);
      }
    });
  });
}
