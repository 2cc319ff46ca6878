// Queries at 1M kept tasks (issue 19): `falc tasks list`, stats, a filtered page, a text search and the
// TUI's first paint (the data of `falc ui --json`), in-process and through dist/falc, against the same
// queries on a small queue (1,000 tasks) measured in the same run. Goal: under 50 ms at 1M.
// Then what an open TUI costs a worker: tasks/s of a worker process on the 1M file with and without a
// TUI store process following it (the store's reads only; ink's drawing is not included).
// Usage: bun scripts/bench/million.ts [--rows 1000000] [--worker-s 20] [--old /path/to/old/src/queue/sqlite.ts]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Database } from "bun:sqlite";
import { numArg } from "./args.ts";

const ROWS = numArg("--rows", 1_000_000);
const WORKER_S = numArg("--worker-s", 20); // 0: skip the worker runs
const oldAt = process.argv.indexOf("--old");
const OLD = oldAt > 0 ? resolve(process.argv[oldAt + 1]!) : null;
const FALC = resolve(import.meta.dir, "../../dist/falc");
const HERE = resolve(import.meta.dir, "../../src/queue/sqlite.ts");

type Q = import("../../src/queue/types.ts").Queue;

/** Fill a queue file fast with raw inserts: mostly finished, some failed, queued, delayed, running. */
async function fill(modPath: string, path: string, rows: number): Promise<void> {
  const { SqliteQueue } = await import(modPath);
  await new SqliteQueue(path).close(); // schema (and, for the new code, its triggers and indexes)
  const db = new Database(path);
  const cols = (db.query("PRAGMA table_info(tasks)").all() as { name: string }[]).map((c) => c.name);
  const hasDelayed = cols.includes("delayed");
  const ins = db.query(
    `INSERT INTO tasks (id, stage, payload, status, attempts, max_attempts, priority, created_at, queued_at, finished_at, run_at, result, error${hasDelayed ? ", delayed" : ""})
     VALUES (?, ?, ?, ?, 1, 3, 0, ?, ?, ?, ?, ?, ?${hasDelayed ? ", ?" : ""})`,
  );
  const stages = ["identification", "pre", "post", "scan", "eval"];
  const t0 = Date.now() - rows * 5;
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const r = i % 1000;
      const status = r < 940 ? "finished" : r < 970 ? "failed" : r < 980 ? "cancelled" : "queued";
      const c = t0 + i * 5;
      const runAt = status === "queued" && r % 2 ? Date.now() + 86_400_000 : c;
      const args: (string | number | null)[] = [
        `t${c.toString(36)}${i.toString(16).padStart(8, "0")}`, stages[i % 5]!, `{"n":${i},"pad":"${"x".repeat(60)}"}`, status, c, c,
        status === "queued" ? null : c + 2, runAt, status === "finished" ? '{"ok":true}' : null, status === "failed" ? '{"message":"boom"}' : null,
      ];
      if (hasDelayed) args.push(status === "queued" ? 1 : 0);
      ins.run(...args);
    }
  })();
  // Raw inserts bypass the queue, so its counters are filled the way the migration fills them.
  const tables = (db.query("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((t) => t.name);
  if (tables.includes("task_counts")) {
    db.exec("DELETE FROM task_counts; INSERT INTO task_counts (stage, status, n) SELECT stage, status, count(*) FROM tasks GROUP BY stage, status");
    db.exec(`DELETE FROM ended_buckets; INSERT INTO ended_buckets (stage, bucket, finished, failed) SELECT stage, finished_at / 10000, sum(status = 'finished'), sum(status <> 'finished')
             FROM tasks WHERE status IN ('finished','failed','cancelled') GROUP BY 1, 2`);
  }
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

async function time(fn: () => Promise<unknown>, n = 7): Promise<number> {
  const xs: number[] = [];
  await fn(); // warm the page cache and prepared statements, as a second call would be
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return xs.sort((a, b) => a - b)[Math.floor(n / 2)]!;
}

async function cli(path: string, args: string[]): Promise<number> {
  return time(async () => {
    const p = Bun.spawn([FALC, ...args, "--queue", `sqlite:${path}`], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    await new Response(p.stdout).text();
    if ((await p.exited) !== 0) throw new Error(`falc ${args.join(" ")} failed: ${await new Response(p.stderr).text()}`);
  }, 5);
}

async function measure(modPath: string, path: string, label: string, withCli: boolean): Promise<Record<string, number>> {
  const { SqliteQueue } = await import(modPath);
  const q: Q = new SqliteQueue(path);
  const out: Record<string, number> = {};
  out["list (50 newest)"] = await time(() => q.list({ limit: 50 }));
  out["list --status failed"] = await time(() => q.list({ status: "failed", limit: 50 }));
  out["list --stage scan"] = await time(() => q.list({ stage: "scan", limit: 50 }));
  out["stats"] = await time(() => q.stats());
  if (typeof q.page === "function") {
    const p1 = await q.page({ limit: 50 });
    out["page 2 (keyset)"] = await time(() => q.page({ limit: 50, after: p1.next }));
    const old = (await q.page({ limit: 1, order: "oldest", status: "finished" })).tasks[0]!.id;
    out["search: one old id by prefix"] = await time(() => q.page({ text: old.slice(0, -2), limit: 50 }));
    out["search: 't' (every id), page 1"] = await time(() => q.page({ text: "t", limit: 50 }));
    out["search: 't' --status failed"] = await time(() => q.page({ text: "t", status: "failed", limit: 50 }));
    const { tuiSnapshot } = await import("../../src/tui/snapshot.ts");
    out["TUI first paint data"] = await time(() => tuiSnapshot(q));
  }
  await q.close();
  if (withCli) {
    out["dist/falc tasks list (process)"] = await cli(path, ["tasks", "list"]);
    out["dist/falc tasks stats (process)"] = await cli(path, ["tasks", "stats"]);
    out["dist/falc ui --json (process)"] = await cli(path, ["ui", "--json"]);
    out["dist/falc --version (process start)"] = await time(async () => {
      await Bun.spawn([FALC, "--version"], { stdout: "ignore" }).exited;
    }, 5);
  }
  console.log(`  ${label} done`);
  return out;
}

/**
 * tasks/s of a worker process (enqueue and run no-op tasks) on `path` for WORKER_S seconds, and, with a TUI
 * store process following it, the CPU time that process used (its own process.cpuUsage at the end).
 */
async function workerRate(path: string, withTui: boolean): Promise<{ rate: number; tuiCpuS: number | null }> {
  const tui = withTui
    ? Bun.spawn(["bun", "-e", `
        const { SqliteQueue } = await import(${JSON.stringify(HERE)});
        const { TuiStore } = await import(${JSON.stringify(resolve(import.meta.dir, "../../src/tui/store.ts"))});
        const s = new TuiStore(new SqliteQueue(${JSON.stringify(path)}));
        s.subscribe(() => {});
        await s.start();
        console.log("ready");
        await Bun.sleep(${WORKER_S * 1000 + 500});
        const u = process.cpuUsage();
        console.log((u.user + u.system) / 1e6);
        process.exit(0);`], { stdout: "pipe", stderr: "inherit" })
    : null;
  const tuiOut = tui ? new Response(tui.stdout).text() : null;
  if (tui) await Bun.sleep(1500);
  const w = Bun.spawn(["bun", "-e", `
    const { SqliteQueue } = await import(${JSON.stringify(HERE)});
    const q = new SqliteQueue(${JSON.stringify(path)});
    const o = { stages: ["bench"], worker: "w", leaseMs: 60000 };
    const end = Date.now() + ${WORKER_S * 1000};
    let done = 0;
    while (Date.now() < end) {
      await q.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ stage: "bench", payload: { i } })));
      let t = await q.claim(o);
      while (t) { const r = await q.completeAndClaim(t.id, "w", null, o); if (r.completed) done++; t = r.next; }
    }
    console.log(done / ${WORKER_S});
    await q.close();`], { stdout: "pipe", stderr: "inherit" });
  const rate = Number((await new Response(w.stdout).text()).trim());
  await w.exited;
  const lines = tuiOut ? (await tuiOut).trim().split("\n") : null;
  await tui?.exited;
  return { rate, tuiCpuS: lines ? Number(lines[lines.length - 1]) : null };
}

const dir = mkdtempSync(join(tmpdir(), "falc-million-"));
try {
  const small = join(dir, "small.sqlite");
  const big = join(dir, "big.sqlite");
  let t = Date.now();
  await fill(HERE, small, 1000);
  await fill(HERE, big, ROWS);
  console.log(`filled ${ROWS} rows in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  const results: [string, Record<string, number>][] = [["1k", await measure(HERE, small, "1k", true)], [`${ROWS / 1000}k`, await measure(HERE, big, "big", true)]];
  if (OLD) {
    const oldBig = join(dir, "old.sqlite");
    t = Date.now();
    await fill(OLD, oldBig, ROWS);
    results.push([`old ${ROWS / 1000}k`, await measure(OLD, oldBig, "old", false)]);
    rmSync(oldBig, { force: true });
  }
  console.log(`\nmedian ms      ${results.map(([l]) => l.padStart(10)).join("")}   ratio big/1k`);
  for (const k of Object.keys(results[1]![1])) {
    const v = results.map(([, r]) => (r[k] === undefined ? "-" : r[k]!.toFixed(1)).padStart(10)).join("");
    console.log(`${k.padEnd(36)}${v}   ${(results[1]![1][k]! / results[0]![1][k]!).toFixed(2)}`);
  }
  if (WORKER_S > 0) {
    // Alternate runs without and with a TUI open, so the machine's load drifts across both alike.
    const alone: number[] = [];
    const watched: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < 3; i++) {
      alone.push((await workerRate(big, false)).rate);
      const r = await workerRate(big, true);
      watched.push(r.rate);
      cpu.push(r.tuiCpuS!);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`\nworker on the ${ROWS / 1000}k file, 3 alternating runs of ${WORKER_S} s: alone ${alone.map((x) => x.toFixed(0)).join("/")} tasks/s, with a TUI store open ${watched.map((x) => x.toFixed(0)).join("/")} (medians: ${(((med(watched) - med(alone)) / med(alone)) * 100).toFixed(1)} %); the TUI store used ${cpu.map((x) => x.toFixed(2)).join("/")} CPU-s per ${WORKER_S + 2} s run (${((med(cpu) / (WORKER_S + 2)) * 100).toFixed(1)} % of one core)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
