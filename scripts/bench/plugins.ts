// The analysis plugins alone (no storage, no queue): identification + pre (identify, static, strings,
// yara, static signatures) in one process over ~1,000 files from /usr/bin and /usr/lib, against
// `sha256sum` over the same files (the baseline, measured in the same run). Goal: >= 0.5x its MB/s.
// Both sides run --rounds times, alternating, and the best round of each counts (other work on the
// machine only ever slows a round down).
// Usage: bun scripts/bench/plugins.ts [--files 1000] [--max-mb 64] [--rounds 3] [--dirs /usr/bin,/usr/lib] [--threads]
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/core/logger.ts";
import type { ProcessingContext, Processor } from "../../src/process/plugin.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { loadProcessors, makeContext } from "../../test/process/plugins-testkit.ts";
import { numArg } from "./args.ts";

const N = numArg("--files", 1000);
const MAX = numArg("--max-mb", 64) * 1024 * 1024;
const ROUNDS = numArg("--rounds", 3);
const di = process.argv.indexOf("--dirs");
const DIRS = di > 0 ? process.argv[di + 1]!.split(",") : ["/usr/bin", "/usr/lib"];

function pick(): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (out.length >= N) return;
      const p = join(dir, n);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory() && depth < 3) walk(p, depth + 1);
      else if (st.isFile() && st.size > 0 && st.size <= MAX) out.push(p);
    }
  };
  // An equal share from each directory, so executables and libraries both count.
  DIRS.forEach((d, i) => {
    walk(d, 0);
    out.splice(Math.floor((N * (i + 1)) / DIRS.length));
  });
  return out;
}

const files = pick();
const bytes = files.reduce((n, f) => n + lstatSync(f).size, 0);
const mb = bytes / 1024 / 1024;

// Warm the page cache so both sides read from memory.
for (const f of files) await Bun.file(f).arrayBuffer();

// CPU seconds too (user + system, all threads): unlike wall time they barely move with other load.
let shaCpu = Infinity;
let plugCpu = Infinity;

async function baseline(): Promise<number> {
  const t0 = performance.now();
  let cpu = 0;
  for (let i = 0; i < files.length; i += 200) {
    const p = Bun.spawn(["sha256sum", ...files.slice(i, i + 200)], { stdout: "ignore" });
    await p.exited;
    const u = p.resourceUsage();
    if (u) cpu += Number(u.cpuTime.user + u.cpuTime.system) / 1e6;
  }
  shaCpu = Math.min(shaCpu, cpu);
  return (performance.now() - t0) / 1000;
}

const procs: Processor[] = (await Promise.all(builtinPlugins.map((f) => loadProcessors(f)))).flat();
const ident = procs.filter((p) => p.STAGE === "identification").sort((a, b) => a.ORDER - b.ORDER);
const pre = procs.filter((p) => p.STAGE === "pre").sort((a, b) => a.ORDER - b.ORDER);
for (const p of [...ident, ...pre]) await p.initOnce?.({});
const pluginConfig = process.argv.includes("--threads") ? { threads: true } : {};

const perPlugin: Record<string, number> = {};
async function runAll(list: Processor[], ctx: ProcessingContext) {
  for (const p of list) {
    ctx.state = {};
    const t = performance.now();
    const out = await p.start(ctx);
    perPlugin[p.KEY] = (perPlugin[p.KEY] ?? 0) + performance.now() - t;
    if (out !== undefined) ctx.results[p.KEY] = out;
  }
}

// One scratch directory per stage, emptied only when a plugin wrote to it (zips): creating and removing
// a directory per file is the framework's cost, not the plugins'.
const scratch = mkdtempSync(join(tmpdir(), "falc-bench-work-"));
const work1 = join(scratch, "identification");
const work2 = join(scratch, "pre");
for (const d of [work1, work2]) mkdirSync(d);
const empty = (d: string) => {
  if (readdirSync(d).length) {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
  }
};

let errors = 0;
async function plugins(): Promise<number> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  errors = 0;
  for (const k of Object.keys(perPlugin)) delete perPlugin[k];
  for (const f of files) {
    const c1 = makeContext({ stage: "identification", path: f, filename: f.split("/").pop()!, workDir: work1, config: pluginConfig });
    c1.log = silentLogger;
    try {
      await runAll(ident, c1);
      const c2 = makeContext({ stage: "pre", path: f, filename: f.split("/").pop()!, identification: c1.results.identify as Record<string, unknown>, workDir: work2, config: pluginConfig });
      await runAll(pre, c2);
      errors += c1.errorList.length + c2.errorList.length;
      empty(work2);
    } finally {
      empty(work1);
    }
  }
  const c = process.cpuUsage(c0);
  plugCpu = Math.min(plugCpu, (c.user + c.system) / 1e6);
  return (performance.now() - t0) / 1000;
}

let shaS = Infinity;
let plugS = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  shaS = Math.min(shaS, await baseline());
  plugS = Math.min(plugS, await plugins());
}

console.log(`analysis plugins benchmark: ${files.length} files, ${mb.toFixed(0)} MB from ${DIRS.join(" and ")}, best of ${ROUNDS} rounds`);
console.log(`  sha256sum (baseline):        ${(files.length / shaS).toFixed(0)} files/s  ${(mb / shaS).toFixed(0)} MB/s`);
console.log(`  identification + pre plugins: ${(files.length / plugS).toFixed(0)} files/s  ${(mb / plugS).toFixed(0)} MB/s  (${errors} non-fatal errors)`);
console.log(`  per plugin (last round, s): ${Object.entries(perPlugin).map(([k, v]) => `${k} ${(v / 1000).toFixed(2)}`).join(", ")}`);
console.log(`  CPU: sha256sum ${shaCpu.toFixed(2)} s, plugins ${plugCpu.toFixed(2)} s (all threads)`);
console.log(`  ratio: ${(shaS / plugS).toFixed(2)}x sha256sum throughput (goal >= 0.5x)`);
rmSync(scratch, { recursive: true, force: true });
