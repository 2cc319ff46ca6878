// identification + pre on ~1,000 real files from /usr/bin and /usr/lib, beside `sha256sum` over the
// same files in the same run (page cache warm for both). Two falc figures:
//   local   one `falc process FILE...` run: submit (copy + hash), identification and pre, in one process
//   worker  `falc process --submit FILE...`, then `falc worker --stage identification,pre` with N children
//           per stage, from the first submit to the last pre finished
// FALC_HOME is a temp dir: TMPDIR=/dev/shm takes the disk out and shows the CPU side alone (each
// analysis makes ~13 fsyncs, so on a busy disk the latency of fsync is what the figure measures).
// Usage: bun scripts/bench/process.ts [--files 1000] [--children 2]   (uses $FALC_BIN or dist/falc)
import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SqliteQueue } from "../../src/queue/sqlite.ts";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg("--files", 1000);
const CHILDREN = arg("--children", 2);
const FALC = resolve(process.env.FALC_BIN ?? join(import.meta.dir, "../../dist/falc"));

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

function time<T>(fn: () => T): { s: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { s: (performance.now() - t0) / 1000, value };
}

function sha256sum(files: string[]): number {
  const r = time(() => Bun.spawnSync(["sha256sum", ...files], { stdout: "ignore", stderr: "ignore" }));
  if (r.value.exitCode !== 0) throw new Error("sha256sum failed");
  return r.s;
}

function local(files: string[]): number {
  const home = mkdtempSync(join(tmpdir(), "falc-bench-process-"));
  const r = time(() => Bun.spawnSync([FALC, "process", "--json", ...files], { env: { ...process.env, FALC_HOME: home, FALC_LOG_LEVEL: "error" }, stdout: "ignore", stderr: "inherit" }));
  rmSync(home, { recursive: true, force: true });
  if (r.value.exitCode !== 0) throw new Error(`falc process exited ${r.value.exitCode}`);
  return r.s;
}

async function worker(files: string[]): Promise<number> {
  const home = mkdtempSync(join(tmpdir(), "falc-bench-process-"));
  const env = { ...process.env, FALC_HOME: home, FALC_LOG_LEVEL: "error" };
  const q = new SqliteQueue(join(home, "queue.sqlite"));
  const proc = Bun.spawn([FALC, "worker", "--stage", "identification,pre", "--count", `identification=${CHILDREN}`, "--count", `pre=${CHILDREN}`, "--poll-ms", "20", "--no-health", "--no-tui"], { env, stdout: "ignore", stderr: "inherit" });
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
  proc.kill("SIGTERM");
  await proc.exited;
  await q.close();
  rmSync(home, { recursive: true, force: true });
  if (failed) console.warn(`  (${failed} pre tasks failed)`);
  return s;
}

const files = pickFiles(N);
const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
const mb = bytes / 1e6;
sha256sum(files); // warm the page cache for everyone
const base = sha256sum(files);
const loc = local(files);
const wrk = await worker(files);
const line = (name: string, s: number) => `  ${name.padEnd(58)} ${(files.length / s).toFixed(0).padStart(6)} files/s ${(mb / s).toFixed(1).padStart(8)} MB/s  ${(base / s).toFixed(2)}x`;
console.log(`process benchmark: ${files.length} files, ${mb.toFixed(1)} MB from /usr/bin and /usr/lib`);
console.log(line("sha256sum (baseline, one process)", base));
console.log(line("falc process FILE... (submit + identification + pre, here)", loc));
console.log(line(`falc worker, ${CHILDREN}+${CHILDREN} children (from submit to last pre)`, wrk));
console.log(`  goal: ≥ 0.50x sha256sum`);
