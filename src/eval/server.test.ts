import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteQueue } from "../queue/sqlite.ts";
import { serveEval } from "./server.ts";
import { EvalServiceClient } from "./client.ts";
import { DEFAULT_MAX_LIMITS } from "./ceilings.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-eval-server-"));
const queue = new SqliteQueue(join(dir, "q.sqlite"), {});
const server = serveEval({ queue, port: 0, apiKey: "key", maxLimits: { ...DEFAULT_MAX_LIMITS, timeout: 20, stdin_kb: 2 } });
const base = `http://127.0.0.1:${server.port}`;
const client = new EvalServiceClient(base, "key");
afterAll(async () => {
  server.stop(true);
  await queue.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("eval queue service", () => {
  test("a body over what the ceilings allow is 413 before it is parsed; one under it is read", async () => {
    const small = serveEval({ queue, port: 0, apiKey: "key", maxLimits: { ...DEFAULT_MAX_LIMITS, stdin_kb: 1, output_kb: 1 } });
    try {
      // Code (1 MiB) and stdin (1 KiB), JSON-escaped at up to 6 bytes a byte, plus 1 MiB: ~7.3 MB.
      const post = (n: number) => fetch(`http://127.0.0.1:${small.port}/tasks`, { method: "POST", headers: { "x-api-key": "key" }, body: `{"code":"${"x".repeat(n)}"}` });
      expect((await post(8 * 1024 * 1024)).status).toBe(413);
      expect((await post(1000)).status).toBe(400); // read, then refused for what it says (no language)
    } finally {
      small.stop(true);
    }
  });

  test("health needs no key; everything else does", async () => {
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/status`)).status).toBe(401);
    expect((await fetch(`${base}/status`, { headers: { "x-api-key": "nope" } })).status).toBe(401);
    expect(await client.status()).toMatchObject({ tasks: null });
  });

  test("next is null when empty; submit → next → complete → get", async () => {
    expect(await client.next("w1")).toBeNull();
    const s = await client.submit({ eval_id: "a1", code: "print(1)", language: "python3", engine: "bwrap", timeout: 3, priority: 1 });
    expect(s).toMatchObject({ id: "a1", eval_id: "a1", status: "queued" });
    await client.submit({ code: "print(2)", language: "python3" });
    const n = await client.next("w1");
    expect(n).toMatchObject({ eval_id: "a1", code: "print(1)", language: "python3", engine: "bwrap", timeout: 3 });
    const r = { status: "completed", stdout: "1\n" } as never;
    await expect(client.complete("a1", "other", r)).rejects.toThrow("409");
    await client.complete("a1", "w1", r);
    expect(await client.get("a1")).toMatchObject({ status: "finished", result: { stdout: "1\n" } });
    expect((await client.status()).tasks).toMatchObject({ finished: 1, queued: 1 });
  });

  test("fail with retry puts the task back; without retry it fails for good", async () => {
    await client.submit({ eval_id: "f1", code: "x", language: "sh", priority: 100 });
    expect((await client.next("w2"))!.eval_id).toBe("f1");
    await client.fail("f1", "w2", "engine broke", false);
    expect(await client.get("f1")).toMatchObject({ status: "failed", error: "engine broke" });
  });

  test("bad input: 400 with the field, duplicate eval_id 409, unknown task 404, unknown route 404", async () => {
    const post = (body: unknown) => fetch(`${base}/tasks`, { method: "POST", headers: { "x-api-key": "key" }, body: typeof body === "string" ? body : JSON.stringify(body) });
    const bad = await post({ code: "x" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain("language");
    expect((await post("{not json")).status).toBe(400);
    expect((await post({ code: "x", language: "sh", timeout: -1 })).status).toBe(400);
    expect((await post({ eval_id: "a1", code: "x", language: "sh" })).status).toBe(409);
    await expect(client.get("nope")).rejects.toThrow("404");
    expect((await fetch(`${base}/nothing`, { headers: { "x-api-key": "key" } })).status).toBe(404);
  });

  test("a task over the operator's ceilings is refused with 400 naming the field and the maximum; unknown languages too", async () => {
    const post = (body: unknown) => fetch(`${base}/tasks`, { method: "POST", headers: { "x-api-key": "key" }, body: JSON.stringify(body) });
    const cases: [Record<string, unknown>, string][] = [
      [{ limits: { memory: 2048 } }, "limits.memory: 2048 is over the operator's maximum 1024 (eval.max_limits.memory)"],
      [{ timeout: 30 }, "timeout: 30 is over the operator's maximum 20 (eval.max_limits.timeout)"],
      [{ limits: { pids: 4096 } }, "limits.pids: 4096 is over the operator's maximum 256 (eval.max_limits.pids)"],
      [{ limits: { output_kb: 1048576 } }, "limits.output_kb: 1048576 is over the operator's maximum 16384 (eval.max_limits.output_kb)"],
      [{ memory: 1025 }, "memory: 1025 is over the operator's maximum 1024"],
      [{ stdin: "x".repeat(3 * 1024) }, "stdin: 3 is over the operator's maximum 2 (eval.max_limits.stdin_kb)"],
    ];
    for (const [extra, msg] of cases) {
      const r = await post({ code: "print(1)", language: "python3", ...extra });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toContain(msg);
    }
    // At the ceiling is fine.
    expect((await post({ eval_id: "at-max", code: "print(1)", language: "python3", timeout: 20, limits: { memory: 1024 } })).status).toBe(201);
    const lang = await post({ code: "x", language: "cobol" });
    expect(lang.status).toBe(400);
    expect(((await lang.json()) as { error: string }).error).toContain("language: unknown language `cobol`");
  });

  test("404 for an unknown task (get, complete, fail), 405 with Allow for a wrong method", async () => {
    const h = { "x-api-key": "key", "content-type": "application/json" };
    for (const path of ["/tasks/nope/complete", "/tasks/nope/fail"]) {
      const r = await fetch(`${base}${path}`, { method: "POST", headers: h, body: JSON.stringify({ worker: "w", result: {}, error: "x" }) });
      expect(r.status).toBe(404);
    }
    for (const [method, path, allow] of [["GET", "/tasks", "POST"], ["DELETE", "/tasks/a1", "GET"], ["POST", "/tasks/next", "GET"], ["GET", "/tasks/a1/complete", "POST"], ["POST", "/health", "GET"], ["PUT", "/status", "GET"]] as const) {
      const r = await fetch(`${base}${path}`, { method, headers: h });
      expect({ path, method, status: r.status, allow: r.headers.get("allow") }).toEqual({ path, method, status: 405, allow });
    }
    expect((await fetch(`${base}/tasks/a/b/c`, { headers: h })).status).toBe(404);
  });

  test("stdin_b64 goes through to the worker; stdin and stdin_b64 together are refused", async () => {
    const bytes = Buffer.from([0, 255, 10, 0, 128]);
    await client.submit({ eval_id: "b64", code: "x", language: "sh", stdin_b64: bytes.toString("base64"), priority: 900 });
    const n = await client.next("wb");
    expect(n).toMatchObject({ eval_id: "b64", stdin_b64: bytes.toString("base64"), stdin: null });
    await client.complete("b64", "wb", {} as never);
    const r = await fetch(`${base}/tasks`, { method: "POST", headers: { "x-api-key": "key" }, body: JSON.stringify({ code: "x", language: "sh", stdin: "a", stdin_b64: "YQ==" }) });
    expect(r.status).toBe(400);
    const bad = await fetch(`${base}/tasks`, { method: "POST", headers: { "x-api-key": "key" }, body: JSON.stringify({ code: "x", language: "sh", stdin_b64: "not base64!" }) });
    expect(bad.status).toBe(400);
  });

  test("keys compare in constant time and loopback is told apart", async () => {
    const { sameKey, isLoopbackHost } = await import("./server.ts");
    expect(sameKey("key", "key")).toBe(true);
    expect(sameKey("ke", "key")).toBe(false);
    expect(sameKey(null, "key")).toBe(false);
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "example.org", "128.0.0.1"]) expect(isLoopbackHost(h)).toBe(false);
  });

  test("the client reports a service that is down as unavailable", async () => {
    const c = new EvalServiceClient("http://127.0.0.1:1", undefined, 2000);
    await expect(c.next("w")).rejects.toMatchObject({ code: "unavailable" });
  });
});

describe("expired leases are reclaimed by the service itself", () => {
  test("a poller that vanishes: queued again with the attempt counted, failed after the last attempt; finished shows no old error", async () => {
    const d = mkdtempSync(join(tmpdir(), "falc-eval-reap-"));
    const q = new SqliteQueue(join(d, "q.sqlite"), {});
    const svc = serveEval({ queue: q, port: 0, leaseGraceS: 0, reapIntervalMs: 50 });
    const c = new EvalServiceClient(`http://127.0.0.1:${svc.port}`);
    try {
      await c.submit({ eval_id: "gone", code: "x", language: "sh", timeout: 0.3, max_attempts: 2 } as never);
      await c.submit({ eval_id: "back", code: "x", language: "sh", timeout: 0.3, max_attempts: 3, priority: -1 } as never);
      expect((await c.next("ghost-1"))!.eval_id).toBe("gone");
      // Nobody polls now: only the service's own reaper can put it back.
      const waitStatus = async (id: string, status: string) => {
        const deadline = Date.now() + 5000;
        for (;;) {
          const t = (await c.get(id)) as unknown as { status: string; attempts: number; error: string | null; last_attempt_error: string | null };
          if (t.status === status) return t;
          if (Date.now() > deadline) throw new Error(`${id} still ${t.status}`);
          await Bun.sleep(20);
        }
      };
      const q1 = await waitStatus("gone", "queued");
      expect(q1.attempts).toBe(1);
      expect(q1.last_attempt_error).toContain("lease expired");
      expect((await c.next("ghost-2"))!).toMatchObject({ eval_id: "gone", attempt: 2 });
      const f = await waitStatus("gone", "failed");
      expect(f.attempts).toBe(2);
      expect(f.error).toContain("lease expired");
      // An expired first attempt, then a worker that reports: finished, without the old error.
      expect((await c.next("ghost-3"))!.eval_id).toBe("back");
      await waitStatus("back", "queued");
      expect((await c.next("w-ok"))!.eval_id).toBe("back");
      await c.complete("back", "w-ok", { status: "completed" } as never);
      const done = (await c.get("back")) as unknown as { status: string; error: string | null; last_attempt_error: string | null; attempts: number };
      expect(done).toMatchObject({ status: "finished", error: null, last_attempt_error: null, attempts: 2 });
    } finally {
      svc.stop(true);
      await q.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("/health", () => {
  test("falc's probe shape: 200 ok with no reasons; 503 unhealthy with the reason when the queue does not answer", async () => {
    const d = mkdtempSync(join(tmpdir(), "falc-eval-health-"));
    const q = new SqliteQueue(join(d, "q.sqlite"), {});
    const svc = serveEval({ queue: q, port: 0 });
    try {
      const ok = await fetch(`http://127.0.0.1:${svc.port}/health`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ status: "ok", reasons: [], queue: "sqlite" });
      await q.close();
      const down = await fetch(`http://127.0.0.1:${svc.port}/health`);
      expect(down.status).toBe(503);
      const b = (await down.json()) as { status: string; reasons: string[] };
      expect(b.status).toBe("unhealthy");
      expect(b.reasons[0]).toContain("the queue (sqlite) does not answer");
    } finally {
      svc.stop(true);
      rmSync(d, { recursive: true, force: true });
    }
  });
});
