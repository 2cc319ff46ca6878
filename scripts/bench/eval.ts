// Benchmark: trivial Python through bwrap and gVisor (falc's full path: cgroup, rlimits, capture,
// cleanup, in falc's default temp dir) against the bare interpreter and plain `runsc do`. Latency
// p50/p95 and evals/s, one run. `bwrap min` (no goal) is the least any bwrap sandbox costs here:
// `bwrap --unshare-all --ro-bind / /` around the same interpreter, without falc's mounts or limits.
// Every sandbox leaves work to the kernel after it exits (network namespace and memory cgroup
// teardown run in kernel workers); a pause before each timed run (--settle) keeps that off the
// next runner's clock, whichever it is.
// `gvisor pool`: the same through a warm pool of --pool sandboxes booted ahead (src/eval/pool.ts);
// its latency is timed once a sandbox is ready (what the pool promises), its throughput as it
// comes (the pool drains and evaluations fall back to a cold boot). `timeout overrun`: how late a
// 0.5 s timeout returns on each engine.
//   bun scripts/bench/eval.ts [--n 40] [--settle 25] [--throughput 200] [--concurrency 4] [--pool 2] [--json]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runEval } from "../../src/eval/run.ts";
import { buildLimits } from "../../src/eval/limits.ts";
import type { EngineName } from "../../src/eval/types.ts";
import { numArg } from "./args.ts";
import { GvisorPool } from "../../src/eval/pool.ts";

const N = numArg("--n", 40);
const THROUGHPUT = numArg("--throughput", 200);
const CONC = numArg("--concurrency", 4);
const SETTLE = numArg("--settle", 25);
const POOL = numArg("--pool", 2);
const asJson = process.argv.includes("--json");
const CODE = "print(1)";
const dir = mkdtempSync(join(tmpdir(), "falc-bench-eval-"));
const file = join(dir, "main.py");
writeFileSync(file, CODE);
const limits = buildLimits({ timeout: 20, memory: 256 });

async function spawnOk(argv: string[]): Promise<void> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  if (code !== 0 || out !== "1\n") throw new Error(`${argv[0]} failed: ${code} ${out}`);
}
const pool = new GvisorPool({ size: POOL, bootLimits: limits });
async function evalOk(engine: EngineName, withPool = false): Promise<void> {
  const r = await runEval({ code: CODE, language: "python3", engine, limits }, withPool ? { pool } : {});
  if (r.status !== "completed" || r.stdout !== "1\n") throw new Error(`${engine}: ${r.status} ${r.reason ?? r.stderr}`);
}

const runners: Record<string, () => Promise<void>> = {
  bare: () => spawnOk(["/usr/bin/python3", "-I", "-B", file]),
  "bwrap min": () => spawnOk(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "/usr/bin/python3", "-I", "-B", file]),
  bwrap: () => evalOk("bwrap"),
  "runsc do": () => spawnOk(["runsc", "--network=none", "--ignore-cgroups", "do", "/usr/bin/python3", "-I", "-B", "-c", CODE]),
  gvisor: () => evalOk("gvisor"),
  "gvisor pool": () => evalOk("gvisor", true),
};
/** Before a timed run: the pool runner's sandbox is booted (the background refill of the last one). */
const before: Record<string, () => Promise<void>> = { "gvisor pool": () => pool.waitReady(1) };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Latency with the runners interleaved round-robin, so load from other work on the machine hits all alike. */
async function latencies(names: string[], n: (name: string) => number) {
  for (const k of names) await runners[k]!(); // warm the page cache
  const xs: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  const max = Math.max(...names.map(n));
  for (let i = 0; i < max; i++) {
    for (const k of names) {
      if (i >= n(k)) continue;
      await before[k]?.();
      if (SETTLE > 0) await Bun.sleep(SETTLE);
      const t = performance.now();
      await runners[k]!();
      xs[k]!.push(performance.now() - t);
    }
  }
  return Object.fromEntries(names.map((k) => {
    const v = xs[k]!;
    return [k, { p50: +pct(v, 50).toFixed(1), p95: +pct(v, 95).toFixed(1), mean: +(v.reduce((a, b) => a + b, 0) / v.length).toFixed(1) }];
  }));
}

async function throughput(fn: () => Promise<void>, total: number, conc: number) {
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => { while (next++ < total) await fn(); }));
  return +(total / ((performance.now() - t) / 1000)).toFixed(1);
}

const slow = (k: string) => k.startsWith("gvisor") || k === "runsc do";
let rows: Record<string, { p50: number; p95: number; mean: number; evals_per_s?: number }> = {};
const overrun: Record<string, number> = {};
try {
  pool.fill();
  await pool.waitReady();
  rows = await latencies(Object.keys(runners), () => N);
  for (const [name, fn] of Object.entries(runners)) {
    if (name === "bwrap min") continue;
    rows[name]!.evals_per_s = await throughput(fn, slow(name) ? Math.max(10, Math.round(THROUGHPUT / 5)) : THROUGHPUT, CONC);
    if (!asJson) process.stderr.write(`${name}: done\n`);
  }
  for (const engine of ["bwrap", "gvisor"] as const) {
    const late: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await runEval({ code: "import time; time.sleep(10)", language: "python3", engine, limits: buildLimits({ timeout: 0.5 }) });
      if (r.status !== "timeout") throw new Error(`${engine}: ${r.status}`);
      late.push(r.duration_ms - 500);
    }
    overrun[engine] = pct(late, 50);
  }
} finally {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
}

const goals = {
  "bwrap p50 <= 1.5x bare": { value: +(rows.bwrap!.p50 / rows.bare!.p50).toFixed(2), ok: rows.bwrap!.p50 <= 1.5 * rows.bare!.p50 },
  "bwrap >= 40 evals/s": { value: rows.bwrap!.evals_per_s!, ok: rows.bwrap!.evals_per_s! >= 40 },
  "gvisor p50 <= 1x runsc do": { value: +(rows.gvisor!.p50 / rows["runsc do"]!.p50).toFixed(2), ok: rows.gvisor!.p50 <= rows["runsc do"]!.p50 },
  "gvisor pool p50 <= 0.5x runsc do": { value: +(rows["gvisor pool"]!.p50 / rows["runsc do"]!.p50).toFixed(2), ok: rows["gvisor pool"]!.p50 <= 0.5 * rows["runsc do"]!.p50 },
  "gvisor timeout overrun p50 <= 300 ms": { value: overrun.gvisor!, ok: overrun.gvisor! <= 300 },
};
const report = { machine: { cpus: navigator.hardwareConcurrency }, n: N, settle_ms: SETTLE, concurrency: CONC, pool: POOL, latency_ms: rows, timeout_overrun_ms: overrun, goals };
if (asJson) console.log(JSON.stringify(report, null, 2));
else {
  console.log(`engine        p50 ms   p95 ms   mean ms  evals/s (concurrency ${CONC})`);
  for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(12)} ${String(v.p50).padStart(7)}  ${String(v.p95).padStart(7)}  ${String(v.mean).padStart(8)}  ${String(v.evals_per_s ?? "-").padStart(7)}`);
  console.log(`info timeout overrun p50: bwrap ${overrun.bwrap} ms, gvisor ${overrun.gvisor} ms`);
  console.log(`info bwrap min p50 / bare p50: ${(rows["bwrap min"]!.p50 / rows.bare!.p50).toFixed(2)} (a sandbox's floor, no goal)`);
  for (const [k, v] of Object.entries(goals)) console.log(`${v.ok ? "ok  " : "MISS"} ${k}: ${v.value}`);
}
