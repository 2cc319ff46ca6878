/**
 * The queue conformance suite: one set of behaviours, run against every backend.
 * A backend test file calls `queueConformance("sqlite", factory)`.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Queue } from "./types.ts";
import { MAX_PAYLOAD_BYTES, type TaskEvent } from "../core/task.ts";

export interface ConformanceBackend {
  queue: Queue;
  /** A queue spec that another process can open with openQueue (sqlite:/path, redis://…). */
  spec: string;
  dispose(): Promise<void>;
}

export type BackendFactory = (opts: { retryBaseMs: number }) => Promise<ConformanceBackend>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLAIMER = join(import.meta.dir, "../../fixtures/queue/claimer.ts");

export function queueConformance(name: string, factory: BackendFactory) {
  describe(`queue conformance: ${name}`, () => {
    const open: ConformanceBackend[] = [];
    const make = async (retryBaseMs = 50) => {
      const b = await factory({ retryBaseMs });
      open.push(b);
      return b.queue;
    };
    afterEach(async () => {
      while (open.length) await open.pop()!.dispose();
    });

    test("enqueue records created then queued, with all task fields", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "s", payload: { a: 1 }, priority: 3, maxAttempts: 4, timeoutS: 9 });
      expect(t.status).toBe("queued");
      expect(t.payload).toEqual({ a: 1 });
      expect(t.priority).toBe(3);
      expect(t.maxAttempts).toBe(4);
      expect(t.timeoutS).toBe(9);
      expect(t.attempts).toBe(0);
      expect(t.createdAt).toBeGreaterThan(0);
      expect(t.queuedAt).toBeGreaterThan(0);
      const ev = (await q.events(0)).filter((e) => e.taskId === t.id).map((e) => e.type);
      expect(ev).toEqual(["created", "queued"]);
      expect((await q.get(t.id))?.id).toBe(t.id);
      expect(await q.get("nope")).toBeNull();
    });

    test("claim orders by priority, then age; only the asked stages", async () => {
      const q = await make();
      const a = await q.enqueue({ stage: "s", payload: 1 });
      await sleep(2);
      const b = await q.enqueue({ stage: "s", payload: 2, priority: 5 });
      await sleep(2);
      const c = await q.enqueue({ stage: "s", payload: 3 });
      await sleep(2);
      const d = await q.enqueue({ stage: "other", payload: 4, priority: 100 });
      const order: string[] = [];
      for (;;) {
        const t = await q.claim({ stages: ["s"], worker: "w", leaseMs: 10_000 });
        if (!t) break;
        expect(t.status).toBe("requested");
        expect(t.attempts).toBe(1);
        expect(t.worker).toBe("w");
        order.push(t.id);
      }
      expect(order).toEqual([b.id, a.id, c.id]);
      expect((await q.get(d.id))?.status).toBe("queued");
    });

    test("claim across stages takes the best task of all of them", async () => {
      const q = await make();
      const a = await q.enqueue({ stage: "x", payload: 1 });
      await sleep(2);
      const b = await q.enqueue({ stage: "y", payload: 2 });
      await sleep(2);
      const c = await q.enqueue({ stage: "y", payload: 3, priority: 2 });
      const order: string[] = [];
      for (;;) {
        const t = await q.claim({ stages: ["x", "y"], worker: "w", leaseMs: 10_000 });
        if (!t) break;
        order.push(t.id);
      }
      expect(order).toEqual([c.id, a.id, b.id]);
    });

    test("a caller-chosen id is unique; a batch with a clash inserts nothing", async () => {
      const q = await make();
      await q.enqueue({ stage: "u", payload: 1, id: "job-1" });
      await expect(q.enqueue({ stage: "u", payload: 2, id: "job-1" })).rejects.toThrow(/already exists/);
      await expect(q.enqueueMany([{ stage: "u", payload: 3, id: "job-2" }, { stage: "u", payload: 4, id: "job-1" }])).rejects.toThrow(/already exists/);
      expect(await q.get("job-2")).toBeNull();
      expect((await q.get("job-1"))?.payload).toBe(1);
      expect((await q.stats()).u?.queued).toBe(1);
    });

    test("batch enqueue keeps order and is claimable", async () => {
      const q = await make();
      const ts = await q.enqueueMany(Array.from({ length: 50 }, (_, i) => ({ stage: "b", payload: i })));
      expect(ts.length).toBe(50);
      const first = await q.claim({ stages: ["b"], worker: "w", leaseMs: 1000 });
      expect(first?.payload).toBe(0);
      expect((await q.stats()).b?.queued).toBe(49);
    });

    test("start, progress, complete: full lifecycle with events", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "s", payload: null });
      const c = await q.claim({ stages: ["s"], worker: "w1", leaseMs: 5000 });
      expect(c?.id).toBe(t.id);
      await q.start(t.id, "w1");
      await q.progress(t.id, "w1", 0.5, "half");
      const mid = await q.get(t.id);
      expect(mid?.status).toBe("started");
      expect(mid?.progress).toBe(0.5);
      expect(mid?.progressNote).toBe("half");
      expect(await q.complete(t.id, "other-worker", { no: true })).toBe(false);
      expect(await q.complete(t.id, "w1", { ok: true })).toBe(true);
      const done = await q.get(t.id);
      expect(done?.status).toBe("finished");
      expect(done?.result).toEqual({ ok: true });
      expect(done?.finishedAt).toBeGreaterThan(0);
      expect(done?.startedAt).toBeGreaterThan(0);
      expect(done?.requestedAt).toBeGreaterThan(0);
      const types = (await q.events(0)).filter((e) => e.taskId === t.id).map((e) => e.type);
      expect(types).toEqual(["created", "queued", "requested", "started", "progress", "finished"]);
      expect(await q.complete(t.id, "w1", {})).toBe(false);
    });

    test("completeAndClaim finishes one task and claims the next in one step", async () => {
      const q = await make();
      const [a, b] = await q.enqueueMany([{ stage: "n", payload: 1 }, { stage: "n", payload: 2 }]);
      const first = await q.claim({ stages: ["n"], worker: "w", leaseMs: 5000 });
      await q.start(first!.id, "w");
      const r1 = await q.completeAndClaim(a!.id, "w", { n: 1 }, { stages: ["n"], worker: "w", leaseMs: 5000 });
      expect(r1.completed).toBe(true);
      expect(r1.next?.id).toBe(b!.id);
      expect(r1.next?.status).toBe("requested");
      expect((await q.get(a!.id))?.result).toEqual({ n: 1 });
      // Not the worker's task any more: nothing completed, but the next claim still happens (here: none left).
      const r2 = await q.completeAndClaim(a!.id, "w", null, { stages: ["n"], worker: "w", leaseMs: 5000 });
      expect(r2).toEqual({ completed: false, next: null });
      const r3 = await q.completeAndClaim(b!.id, "w", undefined, { stages: ["n"], worker: "w", leaseMs: 5000 });
      expect(r3).toEqual({ completed: true, next: null });
      const types = (await q.events(0)).filter((e) => e.type === "finished" || e.type === "requested").map((e) => `${e.type}:${e.taskId === a!.id ? "a" : "b"}`);
      expect(types).toEqual(["requested:a", "finished:a", "requested:b", "finished:b"]);
      expect((await q.stats()).n?.finished).toBe(2);
    });

    test("claim with start: true records requested and started in one step; completeAndClaim calls made together each hold", async () => {
      const q = await make();
      const ts = await q.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ stage: "st", payload: i })));
      const a = (await q.claim({ stages: ["st"], worker: "w0", leaseMs: 5000, start: true }))!;
      expect(a.status).toBe("started");
      expect(a.startedAt).toBeGreaterThan(0);
      expect((await q.events(0)).filter((e) => e.taskId === a.id).map((e) => e.type)).toEqual(["created", "queued", "requested", "started"]);
      const b = (await q.claim({ stages: ["st"], worker: "w1", leaseMs: 5000, start: true }))!;
      // Two holders finish at the same moment (one group commit on SQLite): each completes its own and takes a next.
      const [ra, rb, stale] = await Promise.all([
        q.completeAndClaim(a.id, "w0", "a", { stages: ["st"], worker: "w0", leaseMs: 5000, start: true }, a.token),
        q.completeAndClaim(b.id, "w1", "b", { stages: ["st"], worker: "w1", leaseMs: 5000, start: true }, b.token),
        q.completeAndClaim(a.id, "w0", "again", { stages: ["st"], worker: "w2", leaseMs: 5000 }, a.token),
      ]);
      expect([ra.completed, rb.completed, stale.completed]).toEqual([true, true, false]);
      const nexts = [ra.next!, rb.next!, stale.next!];
      expect(new Set(nexts.map((t) => t.id)).size).toBe(3);
      expect(nexts.map((t) => t.status)).toEqual(["started", "started", "requested"]);
      expect((await q.get(a.id))?.result).toBe("a");
      expect(ts.length).toBe(6);
    });

    test("fail retries with exponential backoff, then fails for good", async () => {
      const q = await make(100);
      const t = await q.enqueue({ stage: "r", payload: null, maxAttempts: 3 });
      const claimedAt: number[] = [];
      for (let i = 0; i < 3; i++) {
        let c = null;
        const deadline = Date.now() + 5000;
        while (!c && Date.now() < deadline) {
          c = await q.claim({ stages: ["r"], worker: "w", leaseMs: 5000 });
          if (!c) await sleep(10);
        }
        expect(c?.id).toBe(t.id);
        claimedAt.push(Date.now());
        const after = await q.fail(t.id, "w", { message: `boom ${i}` });
        expect(after?.status).toBe(i < 2 ? "queued" : "failed");
        if (i < 2) {
          // Not claimable before its backoff has passed.
          expect(await q.claim({ stages: ["r"], worker: "w", leaseMs: 5000 })).toBeNull();
        }
      }
      // Backoff doubles: ~100 ms, then ~200 ms.
      expect(claimedAt[1]! - claimedAt[0]!).toBeGreaterThanOrEqual(95);
      expect(claimedAt[2]! - claimedAt[1]!).toBeGreaterThanOrEqual(195);
      const final = await q.get(t.id);
      expect(final?.status).toBe("failed");
      expect(final?.attempts).toBe(3);
      expect(final?.error?.message).toBe("boom 2");
      expect(final?.error?.attempt).toBe(3);
    });

    test("history: every event of a task, and one error per failed attempt (lease expiry included)", async () => {
      const q = await make(10);
      const t = await q.enqueue({ stage: "h", payload: null, maxAttempts: 4 });
      const other = await q.enqueue({ stage: "h2", payload: null });
      const take = async (worker: string, leaseMs = 5000) => {
        const deadline = Date.now() + 3000;
        for (;;) {
          const c = await q.claim({ stages: ["h"], worker, leaseMs, start: true });
          if (c || Date.now() > deadline) return c!;
          await sleep(5);
        }
      };
      const a = await take("w1");
      await q.fail(t.id, "w1", { message: "first", code: "e1", stack: "Error: first\n  at x" }, { token: a.token });
      await take("dead", 50);
      await sleep(80);
      await q.reapExpired();
      const c = await take("w2");
      await q.fail(t.id, "w2", { message: "third" }, { token: c.token });
      const d = await take("w3");
      expect(await q.complete(t.id, "w3", { ok: true }, d.token)).toBe(true);
      const done = (await q.get(t.id))!;
      expect(done.errors.map((e) => [e.attempt, e.message, e.code ?? null, e.worker])).toEqual([
        [1, "first", "e1", "w1"],
        [2, "lease expired: worker dead stopped answering", "lease_expired", "dead"],
        [3, "third", null, "w2"],
      ]);
      for (const e of done.errors) {
        expect(e.at).toBeGreaterThan(0);
        expect(e.stack).toBeUndefined();
      }
      const h = await q.history(t.id);
      expect(h.every((e) => e.taskId === t.id)).toBe(true);
      expect(h.filter((e) => e.type === "requested").map((e) => [e.worker, e.data?.attempt])).toEqual([["w1", 1], ["dead", 2], ["w2", 3], ["w3", 4]]);
      expect(h.map((e) => e.type)).toContain("lease_expired");
      expect(h.at(-1)?.type).toBe("finished");
      for (let i = 1; i < h.length; i++) expect(h[i]!.seq).toBeGreaterThan(h[i - 1]!.seq);
      expect((await q.history(other.id)).map((e) => e.type)).toEqual(["created", "queued"]);
      expect(await q.history("nope")).toEqual([]);
    });

    test("fail without retry fails at once", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "r", payload: null, maxAttempts: 5 });
      await q.claim({ stages: ["r"], worker: "w", leaseMs: 5000 });
      expect((await q.fail(t.id, "w", { message: "bad input" }, { retry: false }))?.status).toBe("failed");
      expect(await q.fail(t.id, "w", { message: "again" })).toBeNull();
    });

    test("cancel before run: the task never runs", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "c", payload: null });
      expect((await q.cancel(t.id)).status).toBe("cancelled");
      expect(await q.claim({ stages: ["c"], worker: "w", leaseMs: 1000 })).toBeNull();
      await expect(q.cancel(t.id)).rejects.toThrow(/already cancelled/);
      await expect(q.cancel("missing")).rejects.toThrow(/no task/);
    });

    test("cancel during run: the holder learns it at heartbeat and cannot finish it", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "c", payload: null });
      await q.claim({ stages: ["c"], worker: "w", leaseMs: 5000 });
      await q.start(t.id, "w");
      expect(await q.heartbeat(t.id, "w", 5000)).toEqual({ held: true, cancelRequested: false });
      const c = await q.cancel(t.id);
      expect(c.status).toBe("cancelled");
      expect(c.cancelRequested).toBe(true);
      expect(await q.heartbeat(t.id, "w", 5000)).toEqual({ held: false, cancelRequested: true });
      expect(await q.complete(t.id, "w", { partial: true })).toBe(false);
      const after = await q.get(t.id);
      expect(after?.status).toBe("cancelled");
      expect(after?.result).toEqual({ partial: true });
    });

    test("retry puts a failed or cancelled task back", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "c", payload: null });
      await q.cancel(t.id);
      const r = await q.retry(t.id);
      expect(r.status).toBe("queued");
      expect(r.attempts).toBe(0);
      expect((await q.claim({ stages: ["c"], worker: "w", leaseMs: 1000 }))?.id).toBe(t.id);
      await expect(q.retry(t.id)).rejects.toThrow(/only failed or cancelled/);
    });

    test("delayed tasks wait for their run-at time", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "d", payload: null, delayMs: 300 });
      expect(await q.claim({ stages: ["d"], worker: "w", leaseMs: 1000 })).toBeNull();
      await sleep(350);
      expect((await q.claim({ stages: ["d"], worker: "w", leaseMs: 1000 }))?.id).toBe(t.id);
    });

    test("an expired lease puts the task back (its worker died)", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "l", payload: null, maxAttempts: 2 });
      await q.claim({ stages: ["l"], worker: "dead", leaseMs: 100 });
      await sleep(150);
      expect(await q.reapExpired()).toBe(1);
      const back = await q.get(t.id);
      expect(back?.status).toBe("queued");
      expect(back?.error?.code).toBe("lease_expired");
      const again = await q.claim({ stages: ["l"], worker: "alive", leaseMs: 100 });
      expect(again?.id).toBe(t.id);
      expect(again?.attempts).toBe(2);
      expect(await q.heartbeat(t.id, "dead", 1000)).toEqual({ held: false, cancelRequested: false });
      expect(await q.complete(t.id, "dead", {})).toBe(false);
      // Heartbeats keep a lease alive past its first expiry.
      for (let i = 0; i < 3; i++) {
        await sleep(60);
        expect((await q.heartbeat(t.id, "alive", 100)).held).toBe(true);
      }
      await q.reapExpired();
      expect((await q.get(t.id))?.status).toBe("requested");
      // Out of attempts: a second expiry fails it for good.
      await sleep(150);
      await q.reapExpired();
      expect((await q.get(t.id))?.status).toBe("failed");
    });

    test("a task cancelled after its holder died can be retried once the lease runs out", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "k", payload: null });
      await q.claim({ stages: ["k"], worker: "dead", leaseMs: 100 });
      await q.cancel(t.id);
      await expect(q.retry(t.id)).rejects.toThrow(/still being stopped/);
      await sleep(150);
      // Nothing is put back (it stays cancelled), but nobody holds it any more.
      expect(await q.reapExpired()).toBe(0);
      expect((await q.get(t.id))?.status).toBe("cancelled");
      expect((await q.get(t.id))?.worker).toBeNull();
      expect((await q.retry(t.id)).status).toBe("queued");
    });

    test("fencing: every hand-over has a new attempt token; calls with a stale one are refused", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "f", payload: null, maxAttempts: 5 });
      expect(t.token).toBe(0);
      const a = (await q.claim({ stages: ["f"], worker: "w", leaseMs: 100 }))!;
      expect(a.token).toBe(1);
      // The same worker id gets the task again after its lease ran out: only the token tells the runs apart.
      await sleep(150);
      await q.reapExpired();
      const b = (await q.claim({ stages: ["f"], worker: "w", leaseMs: 10_000 }))!;
      expect(b.token).toBe(2);
      const old = a.token;
      await q.start(t.id, "w", old);
      expect((await q.get(t.id))?.status).toBe("requested");
      expect(await q.heartbeat(t.id, "w", 10_000, old)).toEqual({ held: false, cancelRequested: false });
      await q.progress(t.id, "w", 0.5, "stale", old);
      expect((await q.get(t.id))?.progress).toBeNull();
      expect(await q.complete(t.id, "w", { stale: true }, old)).toBe(false);
      expect(await q.fail(t.id, "w", { message: "stale" }, { token: old })).toBeNull();
      expect(await q.release(t.id, "w", old)).toBe(false);
      expect((await q.completeAndClaim(t.id, "w", { stale: true }, { stages: ["f"], worker: "w", leaseMs: 1000 }, old)).completed).toBe(false);
      const mid = (await q.get(t.id))!;
      expect(mid.status).toBe("requested");
      expect(mid.result).toBeNull();
      expect(mid.token).toBe(2);
      // The current token works.
      await q.start(t.id, "w", b.token);
      expect((await q.heartbeat(t.id, "w", 10_000, b.token)).held).toBe(true);
      await q.progress(t.id, "w", 0.5, "now", b.token);
      expect((await q.get(t.id))?.progress).toBe(0.5);
      expect(await q.release(t.id, "w", b.token)).toBe(true);
      // Given back and taken again: a third token; the second is stale now too.
      const c = (await q.claim({ stages: ["f"], worker: "w", leaseMs: 10_000 }))!;
      expect(c.token).toBe(3);
      expect(await q.complete(t.id, "w", { late: true }, b.token)).toBe(false);
      expect((await q.fail(t.id, "w", { message: "now" }, { token: c.token, delayMs: 0 }))?.status).toBe("queued");
      const d = (await q.claim({ stages: ["f"], worker: "w2", leaseMs: 10_000 }))!;
      expect(d.token).toBe(4);
      // Another worker id with the right number is refused as before.
      expect(await q.complete(t.id, "w", {}, d.token)).toBe(false);
      expect(await q.complete(t.id, "w2", { done: 1 }, d.token)).toBe(true);
      expect((await q.get(t.id))?.result).toEqual({ done: 1 });
    });

    test("a payload over the limit is refused at submit with its size and the limit; nothing is queued", async () => {
      const q = await make();
      const big = "x".repeat(MAX_PAYLOAD_BYTES);
      await expect(q.enqueue({ stage: "big", payload: big })).rejects.toThrow(
        new RegExp(`payload is ${MAX_PAYLOAD_BYTES + 2} bytes of JSON; a task's payload may be at most ${MAX_PAYLOAD_BYTES} bytes`),
      );
      await expect(q.enqueueMany<unknown>([{ stage: "big", payload: 1 }, { stage: "big", payload: big }])).rejects.toThrow(/at most/);
      expect((await q.stats()).big).toBeUndefined();
      const fits = await q.enqueue({ stage: "big", payload: "x".repeat(MAX_PAYLOAD_BYTES - 2) });
      expect((await q.get(fits.id))?.payload).toHaveLength(MAX_PAYLOAD_BYTES - 2);
    });

    test("watchCancels tells a holder of a running task's cancel within 1 s, from another connection", async () => {
      const b = await factory({ retryBaseMs: 50 });
      open.push(b);
      const q = b.queue;
      expect(q.watchCancels).toBeDefined();
      const t = await q.enqueue({ stage: "wc", payload: null });
      await q.claim({ stages: ["wc"], worker: "w", leaseMs: 60_000 });
      const seen: [string, number][] = [];
      const stop = q.watchCancels!((id) => seen.push([id, Date.now()]));
      await sleep(100);
      // Another connection to the same queue cancels it, as `falc tasks cancel` would.
      const { openQueue } = await import("./open.ts");
      const canceller = await openQueue(b.spec, { home: "/nonexistent" });
      const at = Date.now();
      await canceller.cancel(t.id);
      await canceller.close();
      const deadline = Date.now() + 2000;
      while (!seen.length && Date.now() < deadline) await sleep(10);
      stop();
      expect(seen.map((x) => x[0])).toEqual([t.id]);
      expect(seen[0]![1] - at).toBeLessThan(1000);
    });

    test("release gives a task back without counting the attempt", async () => {
      const q = await make();
      const t = await q.enqueue({ stage: "g", payload: null });
      await q.claim({ stages: ["g"], worker: "w", leaseMs: 1000 });
      expect(await q.release(t.id, "w")).toBe(true);
      const back = await q.get(t.id);
      expect(back?.status).toBe("queued");
      expect(back?.attempts).toBe(0);
    });

    test("stats per stage and status; list filters", async () => {
      const q = await make();
      await q.enqueueMany([{ stage: "a", payload: 1 }, { stage: "a", payload: 2 }, { stage: "b", payload: 3 }]);
      const t = await q.claim({ stages: ["a"], worker: "w", leaseMs: 1000 });
      await q.complete(t!.id, "w", null);
      const s = await q.stats();
      expect(s.a?.finished).toBe(1);
      expect(s.a?.queued).toBe(1);
      expect(s.b?.queued).toBe(1);
      expect((await q.list({ stage: "a" })).length).toBe(2);
      expect((await q.list({ status: "finished" })).map((x) => x.id)).toEqual([t!.id]);
      expect((await q.list({ stage: "a", status: ["queued", "finished"], limit: 1 })).length).toBe(1);
    });

    test("list newest or oldest first and by parent; events page by since and limit", async () => {
      const q = await make();
      const p = await q.enqueue({ stage: "p", payload: "parent" });
      const kids = [];
      for (let i = 0; i < 3; i++) {
        await sleep(2);
        kids.push((await q.enqueue({ stage: "p", payload: i, parentId: p.id })).id);
      }
      expect((await q.list({ stage: "p" })).map((t) => t.id)).toEqual([...kids].reverse().concat(p.id));
      expect((await q.list({ stage: "p", order: "oldest", limit: 2 })).map((t) => t.id)).toEqual([p.id, kids[0]]);
      expect((await q.list({ parentId: p.id })).map((t) => t.id)).toEqual([...kids].reverse());
      expect((await q.list({ parentId: p.id, order: "oldest" }))[0]?.parentId).toBe(p.id);
      const all = await q.events(0);
      expect(all.length).toBe(8);
      const page = await q.events(all[1]!.seq, 2);
      expect(page.map((e) => e.seq)).toEqual([all[2]!.seq, all[3]!.seq]);
      expect(await q.events(all[7]!.seq)).toEqual([]);
    });

    test("subscribe streams events live, in order", async () => {
      const q = await make();
      const seen: TaskEvent[] = [];
      const stop = q.subscribe((e) => seen.push(e), { intervalMs: 20 });
      await sleep(50);
      const t = await q.enqueue({ stage: "e", payload: null });
      await q.claim({ stages: ["e"], worker: "w", leaseMs: 1000 });
      await q.complete(t.id, "w", 1);
      const deadline = Date.now() + 3000;
      while (seen.filter((e) => e.taskId === t.id).length < 4 && Date.now() < deadline) await sleep(20);
      stop();
      expect(seen.filter((e) => e.taskId === t.id).map((e) => e.type)).toEqual(["created", "queued", "requested", "finished"]);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.seq).toBeGreaterThan(seen[i - 1]!.seq);
    });

    test("locks: one owner at a time, expire, renew, release", async () => {
      const q = await make();
      expect(await q.acquireLock("k", "a", 200)).toBe(true);
      expect(await q.acquireLock("k", "b", 200)).toBe(false);
      expect(await q.renewLock("k", "a", 200)).toBe(true);
      expect(await q.renewLock("k", "b", 200)).toBe(false);
      expect(await q.releaseLock("k", "b")).toBe(false);
      expect(await q.releaseLock("k", "a")).toBe(true);
      expect(await q.acquireLock("k", "b", 100)).toBe(true);
      await sleep(150);
      expect(await q.acquireLock("k", "a", 100)).toBe(true);
    });

    test("shared documents: put, if-absent, get, list by kind in id order, delete, clear", async () => {
      const d = (await make()).docs();
      expect(await d.get("schedule", "a")).toBeNull();
      expect(await d.put("schedule", "b", { every: 60, targets: ["10.0.0.1"] })).toBe(true);
      expect(await d.put("schedule", "a", { every: 30 })).toBe(true);
      expect(await d.put("schedule", "a", { every: 99 }, { ifAbsent: true })).toBe(false);
      expect(await d.get("schedule", "a")).toEqual({ every: 30 });
      expect(await d.put("schedule", "a", { every: 45 })).toBe(true);
      await d.put("other", "a", 1);
      expect(await d.list("schedule")).toEqual([{ id: "a", value: { every: 45 } }, { id: "b", value: { every: 60, targets: ["10.0.0.1"] } }]);
      expect(await d.delete("schedule", "a")).toBe(true);
      expect(await d.delete("schedule", "a")).toBe(false);
      await d.clear("schedule");
      expect(await d.list("schedule")).toEqual([]);
      expect(await d.get("other", "a")).toBe(1);
    });

    test("worker registry: records expire unless refreshed", async () => {
      const q = await make();
      const rec = { name: "pre0", kind: "child" as const, host: "h", pid: 1, stage: "pre", state: "idle" as const, taskId: null, since: Date.now(), heartbeatAt: Date.now(), restarts: 0, handler: "h1", error: null };
      await q.putWorker(rec, 150);
      await q.putWorker({ ...rec, name: "pre1" }, 5000);
      expect((await q.listWorkers()).map((w) => w.name)).toEqual(["pre0", "pre1"]);
      await sleep(200);
      expect((await q.listWorkers()).map((w) => w.name)).toEqual(["pre1"]);
      await q.removeWorker("pre1");
      expect(await q.listWorkers()).toEqual([]);
    });

    test("concurrent claimers in several processes never double-claim", async () => {
      const b = await factory({ retryBaseMs: 50 });
      open.push(b);
      const N = 3000;
      await b.queue.enqueueMany(Array.from({ length: N }, (_, i) => ({ stage: "race", payload: i })));
      const procs = Array.from({ length: 4 }, () =>
        Bun.spawn(["bun", CLAIMER, b.spec, "race"], { stdout: "pipe", stderr: "pipe", env: { ...process.env } }),
      );
      const outs = await Promise.all(procs.map((p) => new Response(p.stdout).text()));
      const codes = await Promise.all(procs.map((p) => p.exited));
      const errs = await Promise.all(procs.map((p) => new Response(p.stderr).text()));
      expect(codes, errs.join("\n")).toEqual([0, 0, 0, 0]);
      const ids = outs.flatMap((o) => o.split("\n").filter(Boolean));
      expect(ids.length).toBe(N);
      expect(new Set(ids).size).toBe(N);
      // Every process did some of the work (the race was real).
      for (const o of outs) expect(o.split("\n").filter(Boolean).length).toBeGreaterThan(0);
      expect((await b.queue.stats()).race?.finished).toBe(N);
    }, 120_000);
  });
}
