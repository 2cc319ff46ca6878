/**
 * falc eval end to end with the compiled binary and real sandboxes: the CLI, the queue service
 * with the pull worker (100 tasks over HTTP, service down → backoff → recovery), and
 * `falc worker --stage eval` on falc's own queue.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { FALC, freePort, runFalc, tempHome, waitFor } from "./helpers.ts";
import { BOX_UIDS } from "../../src/eval/box-uid.ts";

const FIX = join(import.meta.dir, "../../fixtures/eval");
const homes: { cleanup(): void }[] = [];
const procs: Subprocess[] = [];
afterAll(async () => {
  for (const p of procs) {
    try { p.kill("SIGKILL"); } catch {}
    await p.exited;
  }
  for (const h of homes) h.cleanup();
});

function home() {
  const h = tempHome("falc-e2e-eval-");
  homes.push(h);
  return h.home;
}

function spawnFalc(args: string[], env: Record<string, string>) {
  const p = Bun.spawn([FALC, ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  procs.push(p);
  const lines: string[] = [];
  (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of p.stderr as ReadableStream<Uint8Array>) {
      buf += dec.decode(chunk);
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return { p, lines };
}

async function stopProc(p: Subprocess) {
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
  await p.exited;
  clearTimeout(t);
}

const getJson = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(5000) })).json() as Promise<any>;
const postJson = async (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });

describe("falc eval (CLI)", () => {
  const env = { FALC_HOME: home() };

  test("a snippet runs: program output on stdout, summary on stderr, exit 0", async () => {
    const r = await runFalc(["eval", "-c", "print(6*7)", "--lang", "python", "--engine", "bwrap"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("42\n");
    expect(r.stderr).toContain("status=completed engine=bwrap");
  });

  test("a file under gVisor, language from its extension, --json", async () => {
    const r = await runFalc(["eval", join(FIX, "hello.py"), "--engine", "gvisor", "--json"], { env });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ status: "completed", exit_code: 0, stdout: "hello from 3\n", engine: "gvisor", fallbacks: [] });
  });

  test("failing code exits 1 for CI; its stderr is passed through", async () => {
    const r = await runFalc(["eval", join(FIX, "fail.js"), "--engine", "bwrap"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("bad input");
    expect(r.stderr).toContain("status=failed");
  });

  test("limits from flags: --timeout gives timeout with the output so far, --memory gives memory_limit", async () => {
    const t = await runFalc(["eval", "-c", "import time; print('x', flush=True); time.sleep(20)", "--lang", "python3", "--engine", "bwrap", "--timeout", "1", "--json"], { env });
    expect(t.code).toBe(1);
    expect(JSON.parse(t.stdout)).toMatchObject({ status: "timeout", stdout: "x\n" });
    const m = await runFalc(["eval", "-c", "a = bytearray(300*1024*1024)", "--lang", "python3", "--engine", "bwrap", "--memory", "64", "--json"], { env });
    expect(JSON.parse(m.stdout).status).toBe("memory_limit");
  });

  test("docker without an engine: skipped with the reason; auto falls back and says so", async () => {
    const d = await runFalc(["eval", "-c", "echo hi", "--lang", "sh", "--engine", "docker"], { env });
    expect(d.code).toBe(1);
    expect(d.stderr).toContain("skipped docker: no Docker engine");
    const dir = home();
    const cfg = join(dir, "falc.yaml");
    await Bun.write(cfg, "eval:\n  order: [docker, bwrap]\n");
    const a = await runFalc(["eval", "-c", "echo hi", "--lang", "sh", "--config", cfg, "--json"], { env });
    expect(a.code).toBe(0);
    const j = JSON.parse(a.stdout);
    expect(j.engine).toBe("bwrap");
    expect(j.fallbacks[0].engine).toBe("docker");
    expect(a.stderr).toContain("engine_fallback");
  });

  test("operator ceilings: over eval.max_limits is refused (exit 2, field and maximum), or clamped when configured", async () => {
    const r = await runFalc(["eval", "-c", "print(1)", "--lang", "python3", "--engine", "bwrap", "--memory", "2048"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("falc: memory: 2048 is over the operator's maximum 1024 (eval.max_limits.memory)");
    const dir = home();
    const cfg = join(dir, "falc.yaml");
    await Bun.write(cfg, "eval:\n  over_max: clamp\n  max_limits: {memory: 64, timeout: 2}\n");
    const c = await runFalc(["eval", "-c", "a = bytearray(200*1024*1024); print('held')", "--lang", "python3", "--engine", "bwrap", "--memory", "2048", "--timeout", "30", "--config", cfg, "--json"], { env });
    const j = JSON.parse(c.stdout);
    expect(j.status).toBe("memory_limit");
    expect(j.clamped).toEqual([{ field: "timeout", asked: 30, max: 2 }, { field: "memory", asked: 2048, max: 64 }]);
    const h = await runFalc(["eval", "-c", "print(1)", "--lang", "python3", "--engine", "bwrap", "--memory", "2048", "--config", cfg], { env });
    expect(h.code).toBe(0);
    expect(h.stderr).toContain("clamped memory 2048→64");
  });

  test("usage errors exit 2 with one line", async () => {
    for (const args of [["eval"], ["eval", "-c", "x"], ["eval", "-c", "x", "--lang", "cobol"], ["eval", "-c", "x", "--lang", "sh", "--engine", "vm"], ["eval", "-c", "x", "--lang", "sh", "--timeout", "soon"], ["eval", "worker"], ["eval", "-c", "x", "--lang", "sh", "--stdin-file", "/nonexistent/in"], ["eval", "-c", "x", "--lang", "sh", "--stdin", "a", "--stdin-file", "/etc/hostname"]]) {
      const r = await runFalc(args, { env });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.stderr).toStartWith("falc: ");
    }
  });

  test("--help of eval, eval serve and eval worker has examples", async () => {
    for (const c of [["eval"], ["eval", "serve"], ["eval", "worker"]]) {
      const r = await runFalc([...c, "--help"], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Examples");
    }
  });
});

describe("falc eval serve + falc eval worker", () => {
  test("100 tasks over HTTP all complete with the right outputs; service down → backoff → recovery", async () => {
    const h = home();
    const port = await freePort();
    const hport = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { FALC_HOME: h, FALC_EVAL_API_KEY: "k3y" };
    let serve = spawnFalc(["eval", "serve", "--port", String(port)], env);
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, 15_000, 100, "eval serve /health");

    // API key and validation.
    expect((await postJson(`${base}/tasks`, { code: "print(1)", language: "python3" })).status).toBe(401);
    const auth = { authorization: "Bearer k3y" };
    expect((await postJson(`${base}/tasks`, { code: 1, language: "python3" }, auth)).status).toBe(400);
    expect(await (await fetch(`${base}/tasks/next?worker=probe`, { headers: auth })).json()).toBeNull();

    const worker = spawnFalc(["eval", "worker", "--queue-url", base, "--health-port", String(hport), "--worker-id", "w-e2e", "--concurrency", "2", "--log-level", "info"], env);
    const N = 100;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const r = await postJson(`${base}/tasks`, { eval_id: `e${i}`, code: `print(${i} * ${i})`, language: "python3", engine: "bwrap", timeout: 5, priority: i % 3 }, auth);
      expect(r.status).toBe(201);
      ids.push(((await r.json()) as { eval_id: string }).eval_id);
    }
    await waitFor(async () => {
      const s = await (await fetch(`${base}/status`, { headers: { "x-api-key": "k3y" } })).json() as any;
      return s.tasks?.finished === N;
    }, 120_000, 250, "100 evals finished");
    for (let i = 0; i < N; i++) {
      const t = await (await fetch(`${base}/tasks/${ids[i]}`, { headers: auth })).json() as any;
      expect(t.status).toBe("finished");
      expect(t.result.status).toBe("completed");
      expect(t.result.stdout).toBe(`${i * i}\n`);
      expect(t.result.engine).toBe("bwrap");
    }
    const health = await getJson(`http://127.0.0.1:${hport}/health`);
    expect(health).toMatchObject({ worker: "w-e2e", queue_url: base, status: "ok" });
    expect(health.engines).toContain("bwrap");
    expect(health.processed).toBe(N);

    // JSON logs with event, eval_id, engine, worker.
    const done = worker.lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((x) => x?.event === "eval_completed");
    expect(done.length).toBe(N);
    expect(done[0]).toMatchObject({ engine: "bwrap" });
    expect(done[0].eval_id).toMatch(/^e\d+$/);
    expect(done[0].worker).toMatch(/^w-e2e/);
    // Each key once per line (JSON.parse would hide a duplicate by keeping the last).
    for (const l of worker.lines.filter((x) => x.startsWith("{"))) expect(l.split('"worker":').length).toBeLessThanOrEqual(2);

    // Service down: the worker backs off 5 s, 10 s … and says so on /health.
    await stopProc(serve.p);
    const hb = await waitFor(async () => { const x = await getJson(`http://127.0.0.1:${hport}/health`); return x.state === "backoff" ? x : null; }, 10_000, 100, "worker backoff");
    expect(hb.backoff_ms).toBe(5000);
    expect(hb.status).toBe("unhealthy");
    expect(hb.reasons[0]).toContain("does not answer");
    expect(worker.lines.some((l) => l.includes('"event":"queue_error"'))).toBe(true);

    // Back up (same queue on disk): a new task is picked up after the backoff.
    serve = spawnFalc(["eval", "serve", "--port", String(port)], env);
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, 15_000, 100, "eval serve back");
    const r = await postJson(`${base}/tasks`, { eval_id: "after-outage", code: "echo recovered", language: "sh", engine: "bwrap" }, auth);
    expect(r.status).toBe(201);
    const t = await waitFor(async () => { const x = await (await fetch(`${base}/tasks/after-outage`, { headers: auth })).json() as any; return x.status === "finished" ? x : null; }, 40_000, 250, "task after outage");
    expect(t.result.stdout).toBe("recovered\n");
    expect((await getJson(`http://127.0.0.1:${hport}/health`)).state).not.toBe("backoff");
    await stopProc(worker.p);
    await stopProc(serve.p);
  }, 200_000);
});

describe("binary-safe I/O", () => {
  test("--stdin-file of 1 MB of random bytes comes back exactly (raw on stdout, stdout_b64 in --json), on both engines", async () => {
    const env = { FALC_HOME: home() };
    const dir = home();
    const input = join(dir, "in.bin");
    const bytes = new Uint8Array(1024 * 1024);
    crypto.getRandomValues(bytes);
    await Bun.write(input, bytes);
    const echo = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())";
    for (const engine of ["bwrap", "gvisor"]) {
      const raw = Bun.spawn([FALC, "eval", "-c", echo, "--lang", "python3", "--engine", engine, "--stdin-file", input, "--output-kb", "2048"], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
      const out = new Uint8Array(await new Response(raw.stdout).arrayBuffer());
      expect(await raw.exited).toBe(0);
      expect(Buffer.compare(Buffer.from(out), Buffer.from(bytes))).toBe(0);
      const j = await runFalc(["eval", "-c", echo, "--lang", "python3", "--engine", engine, "--stdin-file", input, "--output-kb", "2048", "--json"], { env });
      const r = JSON.parse(j.stdout);
      expect(r.status).toBe("completed");
      expect(Buffer.compare(Buffer.from(r.stdout_b64, "base64"), Buffer.from(bytes))).toBe(0);
      expect(r.stderr_b64).toBeUndefined();
    }
    // Valid UTF-8 output has no base64 copy.
    const t = await runFalc(["eval", "-c", "print('héllo ✓')", "--lang", "python3", "--engine", "bwrap", "--json"], { env });
    expect(JSON.parse(t.stdout)).toMatchObject({ stdout: "héllo ✓\n" });
    expect(JSON.parse(t.stdout).stdout_b64).toBeUndefined();
    // Over the operator's stdin ceiling: refused before anything runs.
    const cfg = join(dir, "falc.yaml");
    await Bun.write(cfg, "eval:\n  max_limits: {stdin_kb: 512}\n");
    const over = await runFalc(["eval", "-c", echo, "--lang", "python3", "--engine", "bwrap", "--stdin-file", input, "--config", cfg], { env });
    expect(over.code).toBe(2);
    expect(over.stderr).toContain("stdin: 1024 is over the operator's maximum 512 (eval.max_limits.stdin_kb)");
  }, 60_000);
});

describe("falc eval: kill -9 of the CLI", () => {
  test("its gVisor sandbox ends within 1 s", async () => {
    const env = { FALC_HOME: home() };
    const cli = spawnFalc(["eval", "-c", "import time; time.sleep(30)", "--lang", "python3", "--engine", "gvisor", "--timeout", "30"], env);
    const sandboxes = () => Bun.spawnSync(["ps", "-eo", "pid=,ppid=,stat=,args="]).stdout.toString().split("\n").filter((l) => / runsc-(sandbox|gofer) /.test(` ${l.trim().split(/\s+/).slice(3).join(" ")} `) && !/\sZ/.test(l));
    const mine = () => sandboxes().filter((l) => l.includes(`/${cli.p.pid.toString(36)}-`));
    await waitFor(() => mine().length >= 2 || null, 15_000, 20, "runsc sandbox and gofer running");
    cli.p.kill("SIGKILL");
    const at = Date.now();
    await cli.p.exited;
    await waitFor(() => mine().length === 0 || null, 3000, 10, "gVisor sandbox gone");
    expect(Date.now() - at).toBeLessThan(1000);
  }, 30_000);
});

describe("falc eval serve: leases and exposure", () => {
  test("beyond loopback without an API key: exit 2", async () => {
    const r = await runFalc(["eval", "serve", "--host", "0.0.0.0", "--port", "0"], { env: { FALC_HOME: home(), FALC_EVAL_API_KEY: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("beyond loopback: give --api-key");
  });

  test("a pull worker killed with kill -9 mid-eval: its sandbox ends within 1 s, the service reclaims the task, another worker finishes it", async () => {
    const h = home();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { FALC_HOME: h };
    const serve = spawnFalc(["eval", "serve", "--port", String(port), "--lease-grace", "1"], env);
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, 15_000, 100, "eval serve /health");
    const marker = `falc-kill9-${process.pid}`;
    const r = await postJson(`${base}/tasks`, { eval_id: "k9", code: `import time, sys\nprint("${marker}", flush=True)\ntime.sleep(2.5)\nprint("done")`, language: "python3", engine: "bwrap", timeout: 4 });
    expect(r.status).toBe(201);
    const w1 = spawnFalc(["eval", "worker", "--queue-url", base, "--health-port", "0", "--worker-id", "doomed", "--idle-ms", "50"], env);
    // The sandboxed program and its bwrap run as a box uid of falc's range (nothing else does).
    // A zombie runs nothing (this VM's init reaps orphans late), so only live ones count.
    const sandboxPids = () => Bun.spawnSync(["ps", "-e", "-o", "pid=,uid=,stat="]).stdout.toString().trim().split("\n").filter((l) => {
      const [, uid, stat] = l.trim().split(/\s+/);
      return Number(uid) >= BOX_UIDS.first && Number(uid) < BOX_UIDS.first + BOX_UIDS.count && !stat!.startsWith("Z");
    });
    expect(sandboxPids()).toEqual([]);
    await waitFor(() => sandboxPids().length > 0 || null, 15_000, 20, "sandboxed program running");
    w1.p.kill("SIGKILL");
    const killedAt = Date.now();
    await w1.p.exited;
    await waitFor(() => sandboxPids().length === 0 || null, 3000, 20, "sandbox gone after kill -9");
    expect(Date.now() - killedAt).toBeLessThan(1000);
    const q = await waitFor(async () => { const t = await getJson(`${base}/tasks/k9`); return t.status === "queued" ? t : null; }, 15_000, 100, "task reclaimed");
    expect(q.attempts).toBe(1);
    expect(q.last_attempt_error).toContain("lease expired");
    const w2 = spawnFalc(["eval", "worker", "--queue-url", base, "--health-port", "0", "--worker-id", "second", "--idle-ms", "50"], env);
    const t = await waitFor(async () => { const x = await getJson(`${base}/tasks/k9`); return x.status === "finished" ? x : null; }, 20_000, 100, "task finished by the second worker");
    expect(t).toMatchObject({ attempts: 2, error: null, worker: null });
    expect(t.result.stdout).toBe(`${marker}\ndone\n`);
    await stopProc(w2.p);
    await stopProc(serve.p);
  }, 60_000);
});

describe("gVisor warm pool in a pull worker", () => {
  test("evaluations after the first run in sandboxes booted ahead; stopping the worker leaves no sandbox", async () => {
    const h = home();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { FALC_HOME: h };
    const serve = spawnFalc(["eval", "serve", "--port", String(port)], env);
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, 15_000, 100, "eval serve /health");
    const worker = spawnFalc(["eval", "worker", "--queue-url", base, "--health-port", "0", "--idle-ms", "50"], env);
    const results: any[] = [];
    for (let i = 0; i < 4; i++) {
      expect((await postJson(`${base}/tasks`, { eval_id: `p${i}`, code: `print(${i} * 7)`, language: "python3", engine: "gvisor" })).status).toBe(201);
      results.push(await waitFor(async () => { const t = await getJson(`${base}/tasks/p${i}`); return t.status === "finished" ? t : null; }, 30_000, 50, `task p${i}`));
      // Give the background refill time, as a steady flow of tasks would.
      await Bun.sleep(1500);
    }
    for (let i = 0; i < 4; i++) expect(results[i].result).toMatchObject({ status: "completed", stdout: `${i * 7}\n`, engine: "gvisor" });
    expect(results.slice(1).filter((t) => t.result.pooled === true).length).toBeGreaterThanOrEqual(2);
    const pid36 = worker.p.pid.toString(36);
    const sandboxes = () => Bun.spawnSync(["ps", "-eo", "stat=,args="]).stdout.toString().split("\n").filter((l) => l.includes(`/${pid36}-`) && !/^Z/.test(l.trim()));
    expect(sandboxes().length).toBeGreaterThan(0); // the pool, booted ahead
    await stopProc(worker.p);
    expect(sandboxes()).toEqual([]);
    await stopProc(serve.p);
  }, 120_000);
});

describe("falc worker --stage eval", () => {
  test("runs eval tasks from falc's own queue", async () => {
    const h = home();
    const env = { FALC_HOME: h };
    const sub = await runFalc(["tasks", "submit", "eval", "--payload", JSON.stringify({ code: "echo from-queue", language: "sh", engine: "bwrap" }), "--json"], { env });
    expect(sub.code).toBe(0);
    const id = JSON.parse(sub.stdout).id;
    const w = spawnFalc(["worker", "--stage", "eval", "--no-health", "--no-tui"], env);
    const t = await waitFor(async () => {
      const r = await runFalc(["tasks", "show", id, "--json"], { env });
      const x = JSON.parse(r.stdout || "null");
      return x && ["finished", "failed"].includes(x.status) ? x : null;
    }, 30_000, 300, "eval task finished");
    expect(t.status).toBe("finished");
    expect(t.result).toMatchObject({ status: "completed", stdout: "from-queue\n", engine: "bwrap" });
    // A queued task over the operator's ceilings fails at once, not retried, naming the field.
    const over = await runFalc(["tasks", "submit", "eval", "--payload", JSON.stringify({ code: "echo big", language: "sh", engine: "bwrap", limits: { memory: 4096 } }), "--json"], { env });
    const oid = JSON.parse(over.stdout).id;
    const o = await waitFor(async () => {
      const x = JSON.parse((await runFalc(["tasks", "show", oid, "--json"], { env })).stdout || "null");
      return x && ["finished", "failed"].includes(x.status) ? x : null;
    }, 30_000, 300, "over-ceiling task ended");
    expect(o.status).toBe("failed");
    expect(o.attempts).toBe(1);
    expect(JSON.stringify(o.error)).toContain("limits.memory: 4096 is over the operator's maximum 1024 (eval.max_limits.memory)");
    // A gVisor task makes the worker child boot its warm pool; stopping the worker takes the pool down.
    const g = await runFalc(["tasks", "submit", "eval", "--payload", JSON.stringify({ code: "print('gv')", language: "python3", engine: "gvisor" }), "--json"], { env });
    const gid = JSON.parse(g.stdout).id;
    const gt = await waitFor(async () => {
      const x = JSON.parse((await runFalc(["tasks", "show", gid, "--json"], { env })).stdout || "null");
      return x && ["finished", "failed"].includes(x.status) ? x : null;
    }, 30_000, 300, "gVisor task ended");
    expect(gt.result).toMatchObject({ status: "completed", stdout: "gv\n", engine: "gvisor" });
    await waitFor(() => Bun.spawnSync(["ps", "-eo", "stat=,args="]).stdout.toString().split("\n").some((l) => /runsc-sandbox/.test(l) && !/^Z/.test(l.trim())) || null, 20_000, 100, "pool sandboxes booted");
    await stopProc(w.p);
    await waitFor(() => Bun.spawnSync(["ps", "-eo", "stat=,args="]).stdout.toString().split("\n").every((l) => !/runsc-sandbox/.test(l) || /^Z/.test(l.trim())) || null, 5000, 50, "no gVisor sandbox left after the worker stopped");
  }, 60_000);
});
