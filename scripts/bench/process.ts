// identification + pre on ~1,000 real files from /usr/bin and /usr/lib, beside `sha256sum` over the
// same files in the same run (one process, page cache warm for both). Two falc figures:
//   local   one `falc process FILE...` run: submit (copy + hash), identification and pre, reports, durable
//           commit, summaries; in its own processes (a small pool when given many files)
//   worker  `falc process --submit FILE...`, then `falc worker --stage identification,pre` with N children
//           per stage, from the first submit to the last pre finished
// Each of --runs rounds measures all three, rotating which goes first; the table shows medians (and the
// range), CPU seconds of the timed processes (all threads and children) and the machine's load, since
// other jobs share this 2-core machine.
// FALC_HOME is a temp dir on the disk (TMPDIR, else /tmp); --tmpfs puts it on /dev/shm to take the
// disk out and show the CPU side alone; --home-root DIR puts it under DIR (e.g. /var/tmp: on this
// machine's ext4, creating a file or directory under /tmp costs ~0.45 ms of kernel time against
// ~0.03 ms elsewhere on the same disk, and an analysis is at least 9 new inodes).
// The FALC_HOMEs of all runs are removed at the end, not between runs: ext4 here makes a new inode
// expensive while many inodes nearby were deleted in the last minutes (≈0.03 → 0.5 ms each), so
// removing one run's 10,000 files would slow the next run down. A `sync` before each timed run
// leaves no earlier writes for it to flush.
// Usage: bun scripts/bench/process.ts [--files 1000] [--children 2] [--runs 3] [--tmpfs | --home-root DIR]
//        [--only local|worker]   (uses $FALC_BIN or dist/falc)
import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import { numArg } from "./args.ts";

const N = numArg("--files", 1000);
const CHILDREN = numArg("--children", 2);
const RUNS = Math.max(1, numArg("--runs", 3));
const oi = process.argv.indexOf("--only");
const ONLY = oi > 0 ? process.argv[oi + 1] : undefined;
const FALC = resolve(process.env.FALC_BIN ?? join(import.meta.dir, "../../dist/falc"));
const hr = process.argv.indexOf("--home-root");
const ROOT = process.argv.includes("--tmpfs") ? "/dev/shm" : hr > 0 ? resolve(process.argv[hr + 1]!) : tmpdir();

/** Regular, readable, non-empty files, breadth-first from /usr/bin then /usr/lib, in name order. */
function pickFiles(n: number): string[] {
  const out: string[] = [];
  const queue = ["/usr/bin", "/usr/lib"];
  while (queue.length && out.length < n) {
    const dir = queue.shift()!;
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (out.length >= n) break;
      const p = join(dir, name);
      try {
        const st = lstatSync(p);
        if (st.isDirectory()) queue.push(p);
        else if (st.isFile() && st.size > 0 && st.size < 256 << 20) {
          Bun.file(p).slice(0, 1);
          out.push(p);
        }
      } catch {}
    }
  }
  return out;
}

interface Sample {
  s: number;
  cpu: number;
}

const cpuOf = (p: { resourceUsage(): { cpuTime: { user: bigint | number; system: bigint | number } } | undefined }) => {
  const u = p.resourceUsage();
  return u ? Number(u.cpuTime.user) / 1e6 + Number(u.cpuTime.system) / 1e6 : NaN;
};

async function sha256sum(files: string[]): Promise<Sample> {
  const t0 = performance.now();
  const p = Bun.spawn(["sha256sum", ...files], { stdout: "ignore", stderr: "ignore" });
  if ((await p.exited) !== 0) throw new Error("sha256sum failed");
  return { s: (performance.now() - t0) / 1000, cpu: cpuOf(p) };
}

const homes: string[] = [];
function newHome(): string {
  const home = mkdtempSync(join(ROOT, "falc-bench-process-"));
  homes.push(home);
  return home;
}
process.on("exit", () => homes.forEach((h) => rmSync(h, { recursive: true, force: true })));

async function local(files: string[]): Promise<Sample> {
  const home = newHome();
  const t0 = performance.now();
  const p = Bun.spawn([FALC, "process", "--json", ...files], { env: { ...process.env, FALC_HOME: home, FALC_LOG_LEVEL: "error" }, stdout: "ignore", stderr: "inherit" });
  const code = await p.exited;
  const s = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`falc process exited ${code}`);
  return { s, cpu: cpuOf(p) };
}

async function worker(files: string[]): Promise<Sample> {
  const home = newHome();
  const env = { ...process.env, FALC_HOME: home, FALC_LOG_LEVEL: "error" };
  const q = new SqliteQueue(join(home, "queue.sqlite"));
  const proc = Bun.spawn([FALC, "worker", "--stage", "identification,pre", "--count", `identification=${CHILDREN}`, "--count", `pre=${CHILDREN}`, "--poll-ms", "20", "--no-health", "--no-tui"], { env, stdout: "ignore", stderr: "inherit" });
  try {
    // Children set up before the clock starts: start-up is not processing.
    const ready = Date.now() + 30_000;
    while ((await q.listWorkers()).filter((w) => w.kind === "child" && w.state === "idle").length < 2 * CHILDREN && Date.now() < ready) await Bun.sleep(20);
    const t0 = performance.now();
    const sub = Bun.spawn([FALC, "process", "--submit", ...files], { env, stdout: "ignore", stderr: "inherit" });
    if ((await sub.exited) !== 0) throw new Error("falc process --submit failed");
    for (;;) {
      const st = (await q.stats()).pre;
      if (st && st.finished + st.failed >= files.length) break;
      await Bun.sleep(20);
    }
    const s = (performance.now() - t0) / 1000;
    const failed = (await q.stats()).pre?.failed ?? 0;
    if (failed) console.warn(`  (${failed} pre tasks failed)`);
    proc.kill("SIGTERM");
    await proc.exited;
    // The worker's CPU includes its children's (reaped by it) and their set-up; the submit's is added.
    return { s, cpu: cpuOf(proc) + cpuOf(sub) };
  } finally {
    proc.kill("SIGKILL");
    await q.close();
  }
}

const files = pickFiles(N);
const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
const mb = bytes / 1e6;
await sha256sum(files); // warm the page cache for everyone

type Name = "sha256sum" | "local" | "worker";
const runners: Record<Name, (f: string[]) => Promise<Sample>> = { sha256sum, local, worker };
const names: Name[] = ["sha256sum", ...(["local", "worker"] as const).filter((n) => !ONLY || n === ONLY)];
const samples: Record<Name, Sample[]> = { sha256sum: [], local: [], worker: [] };
const loads: number[] = [loadavg()[0]!];
for (let run = 0; run < RUNS; run++) {
  // Rotate the order so no figure always runs right after the same neighbour.
  const order = names.map((_, i) => names[(i + run) % names.length]!);
  for (const n of order) {
    Bun.spawnSync(["sync"]);
    samples[n].push(await runners[n](files));
  }
  loads.push(loadavg()[0]!);
}

const med = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
const base = med(samples.sha256sum.map((x) => x.s));
const label: Record<Name, string> = {
  sha256sum: "sha256sum (baseline, one process)",
  local: "falc process FILE... (submit + identification + pre, here)",
  worker: `falc worker, ${CHILDREN}+${CHILDREN} children (from submit to last pre)`,
};
console.log(`process benchmark: ${files.length} files, ${mb.toFixed(1)} MB from /usr/bin and /usr/lib, FALC_HOME in ${ROOT}`);
console.log(`  ${RUNS} runs, medians (range of wall seconds); load average (1 min) ${loads.map((l) => l.toFixed(1)).join(" → ")} on ${navigator.hardwareConcurrency} cores`);
for (const n of names) {
  const xs = samples[n];
  const s = med(xs.map((x) => x.s));
  const range = `${Math.min(...xs.map((x) => x.s)).toFixed(2)}-${Math.max(...xs.map((x) => x.s)).toFixed(2)} s`;
  console.log(
    `  ${label[n].padEnd(58)} ${(files.length / s).toFixed(0).padStart(6)} files/s ${(mb / s).toFixed(1).padStart(7)} MB/s  ${(base / s).toFixed(2)}x  (${range}, cpu ${med(xs.map((x) => x.cpu)).toFixed(2)} s)`,
  );
}
console.log(`  goal: ≥ 0.50x sha256sum`);
