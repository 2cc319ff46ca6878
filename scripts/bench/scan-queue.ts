#!/usr/bin/env bun
/**
 * Scan queue-form benchmark on the namespace lab (root needed): the same /24 (N live hosts, the
 * rest dead) scanned by
 *   1. falc scan (the local form)
 *   2. falc scan --submit + falc worker --stage scan --count scan=W, for each W in --workers
 * and, with --before BIN, the queue form of another build (an earlier commit) in the same rounds,
 * so a change is measured against its baseline under the same load. The workers are started and
 * idle before the submit; the time is submit → every scan task of the run finished. Prints times,
 * ratios against the local form, the number of scan tasks, and whether the findings are identical.
 *   bun scripts/bench/scan-queue.ts [--hosts 8] [--workers 1,4] [--profile fast] [--rounds 1] [--falc dist/falc] [--before /tmp/old/falc]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createLab, type LabHostSpec } from "../../test/scan/lab.ts";

const { values } = parseArgs({ options: { hosts: { type: "string", default: "8" }, workers: { type: "string", default: "1,4" }, profile: { type: "string", default: "fast" }, rounds: { type: "string", default: "1" }, falc: { type: "string" }, before: { type: "string" } } });
const falc = resolve(values.falc ?? process.env.FALC_BIN ?? "dist/falc");
const before = values.before ? resolve(values.before) : null;
const rounds = Math.max(1, Number(values.rounds));
const kinds: LabHostSpec["listeners"][] = [
  [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }],
  [{ kind: "redis", port: 6379 }],
  [{ kind: "http", port: 8080 }, { kind: "ssh", port: 2222 }],
  [{ kind: "http", port: 443 }],
];
const n = Number(values.hosts);
const lab = await createLab({ hosts: Array.from({ length: n }, (_, i) => ({ octet: 20 + i, listeners: kinds[i % kinds.length]! })) });
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const homes: string[] = [];

const envOf = (home: string) => ({ ...process.env, FALC_HOME: home, FALC_LOG_LEVEL: "silent", NO_COLOR: "1" });
async function run(home: string, argv: string[]): Promise<string> {
  const p = Bun.spawn([...lab.exec, ...argv], { env: envOf(home), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.slice(1, 3).join(" ")} exited ${code}: ${err.slice(0, 300)}`);
  return out;
}
const newHome = () => {
  const h = mkdtempSync(join(tmpdir(), "falc-bench-scanq-"));
  homes.push(h);
  return h;
};
const findings = async (bin: string, home: string, project: string) =>
  (await run(home, [bin, "scan", "results", "--project", project, "--format", "ndjson"])).trim().split("\n").filter(Boolean).map((l) => {
    const r = JSON.parse(l);
    return `${r.ip} ${r.proto}/${r.port} ${r.service}`;
  }).sort().join("|");

async function local(): Promise<{ ms: number; found: string }> {
  const home = newHome();
  const t0 = performance.now();
  await run(home, [falc, "scan", lab.subnet, "--profile", values.profile!, "--project", "b", "--json"]);
  return { ms: performance.now() - t0, found: await findings(falc, home, "b") };
}

async function queued(bin: string, workers: number): Promise<{ ms: number; found: string; tasks: number }> {
  const home = newHome();
  const w = Bun.spawn([...lab.exec, bin, "worker", "--stage", "scan", "--count", `scan=${workers}`, "--no-health", "--no-tui"], { env: envOf(home), stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  try {
    // Idle workers first: their start-up is not the scan's.
    for (const end = Date.now() + 30_000; ; await Bun.sleep(100)) {
      const ws = JSON.parse(await run(home, [bin, "tasks", "workers", "--json"]));
      if ((Array.isArray(ws) ? ws : ws.workers ?? []).length) break;
      if (Date.now() > end) throw new Error("the workers did not come up");
    }
    const t0 = performance.now();
    const sub = JSON.parse(await run(home, [bin, "scan", lab.subnet, "--profile", values.profile!, "--project", "b", "--submit", "--json"]));
    for (;;) {
      const ts = (JSON.parse(await run(home, [bin, "tasks", "list", "--stage", "scan", "--limit", "100000", "--json"])) as { status: string; payload: { run_id?: string } }[]).filter((t) => t.payload.run_id === sub.run);
      const live = ts.filter((t) => !["finished", "failed", "cancelled"].includes(t.status));
      // A sweep task queues its targets' tasks before it ends: none left running means all done.
      if (ts.length && !live.length) return { ms: performance.now() - t0, found: await findings(bin, home, "b"), tasks: ts.length };
      await Bun.sleep(100);
    }
  } finally {
    w.kill("SIGTERM");
    await w.exited;
  }
}

try {
  console.log(`lab ${lab.subnet}: ${n} hosts (+ the scanner's own address), profile ${values.profile}; ${navigator.hardwareConcurrency} cores; load ${load()}`);
  for (let r = 1; r <= rounds; r++) {
    const l = await local();
    console.log(`round ${r}: local falc scan ${secs(l.ms)}; load ${load()}`);
    for (const W of values.workers!.split(",").map(Number)) {
      for (const [name, bin] of [["this build", falc], ...(before ? [["before", before]] : [])] as [string, string][]) {
        const q = await queued(bin, W);
        console.log(`  --submit, ${W} worker${W === 1 ? "" : "s"} (${name}): ${secs(q.ms)} = ${(l.ms / q.ms).toFixed(2)}x the local speed, ${q.tasks} scan tasks, ${q.found === l.found ? "identical findings" : "DIFFERENT findings"}; load ${load()}`);
      }
    }
  }
} finally {
  lab.destroy();
  for (const h of homes) rmSync(h, { recursive: true, force: true });
}
