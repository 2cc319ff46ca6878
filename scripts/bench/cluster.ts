// Per-node throughput of each stage on the namespace cluster (test/cluster/cluster.ts), the Redis work per task,
// and from those how many worker nodes one Redis serves before it saturates (README "Scale on paper").
// Usage: bun scripts/bench/cluster.ts [--noop 3000] [--evals 60] [--targets 12]   (root: ip netns; uses dist/falc)
import { join } from "node:path";
import { createCluster, type Cluster, type ClusterNode } from "../../test/cluster/cluster.ts";
import { numArg } from "./args.ts";

const NOOP = numArg("--noop", 3000);
const EVALS = numArg("--evals", 60);
const TARGETS = numArg("--targets", 12);

function redisInfo(c: Cluster): { calls: number; cpu: number } {
  const n = c.node("redis");
  const info = c.run(n, ["redis-cli", "-h", n.ip, "info", "all"]).stdout;
  const num = (re: RegExp) => Number(re.exec(info)?.[1] ?? 0);
  return { calls: num(/total_commands_processed:(\d+)/), cpu: num(/used_cpu_sys:([\d.]+)/) + num(/used_cpu_user:([\d.]+)/) };
}

function stageCounts(c: Cluster, stage: string): { finished: number; failed: number; done: number } {
  const r = c.falcOn("submit", ["tasks", "stats", "--json"]);
  const doc = JSON.parse(r.stdout || "{}");
  const s = (doc.stages ?? doc)[stage] ?? {};
  const finished = s.finished ?? 0;
  const failed = s.failed ?? 0;
  return { finished, failed, done: finished + failed + (s.cancelled ?? 0) };
}

async function phase(c: Cluster, nodes: ClusterNode[], stage: string, counts: Record<string, number>, submit: () => void, total: number) {
  const base = stageCounts(c, stage);
  for (const w of nodes) c.startWorker(w, [stage], counts);
  for (const w of nodes) await c.waitFor(() => c.health(w).code === 200, 60_000, `${w.name} healthy`);
  const r0 = redisInfo(c);
  const t0 = performance.now();
  submit();
  await c.waitFor(() => stageCounts(c, stage).done >= base.done + total, 600_000, `${total} ${stage} tasks`);
  const s = (performance.now() - t0) / 1000;
  const failed = stageCounts(c, stage).failed - base.failed;
  const r1 = redisInfo(c);
  for (const w of nodes) c.kill(`worker-${w.name}`, "SIGTERM");
  for (const w of nodes) await c.stopped(`worker-${w.name}`).catch(() => {});
  const row = { stage, nodes: nodes.length, tasks: total, failed, seconds: +s.toFixed(2), per_s: +(total / s).toFixed(1), per_node_s: +(total / s / nodes.length).toFixed(1), redis_cmds_per_task: +((r1.calls - r0.calls) / total).toFixed(1), redis_cpu_us_per_task: Math.round(((r1.cpu - r0.cpu) * 1e6) / total) };
  console.log(JSON.stringify(row));
  return row;
}

// One scan task per target: scans of one target wait on its lock by design, so each target is scanned once a phase.
const c = await createCluster({
  startWorkers: false,
  targets: Array.from({ length: TARGETS }, (_, i) => ({ listeners: [{ kind: i % 2 ? "ssh" : "http", port: i % 2 ? 22 : 80 }] as { kind: "http" | "ssh"; port: number }[] })),
});
try {
  const rows = [];
  const submit = (args: string[]) => () => {
    const r = c.falcOn("submit", ["tasks", "submit", ...args]);
    if (r.code !== 0) throw new Error(`falc tasks submit: ${r.stderr}`);
  };
  for (const nodes of [c.workers.slice(0, 1), c.workers]) {
    rows.push(await phase(c, nodes, "noop", { noop: 4 }, submit(["noop", "--payload", "{}", "--count", String(NOOP)]), NOOP));
    rows.push(await phase(c, nodes, "eval", { eval: 2 }, submit(["eval", "--payload", JSON.stringify({ code: "print(1+1)", language: "python", engine: "bwrap" }), "--count", String(EVALS)]), EVALS));
    rows.push(await phase(c, nodes, "scan", { scan: 2 }, () => {
      const r = c.falcOn("submit", ["scan", ...c.targets.map((t) => t.ip), "--submit", "--profile", "fast", "--project", `bench${nodes.length}`]);
      if (r.code !== 0) throw new Error(`falc scan --submit: ${r.stderr}`);
    }, c.targets.length));
  }
  console.table(rows);
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  console.log(`load ${load}`);
  // One Redis core serves 1e6 / cpu_us tasks per second; a node of a stage takes per_node_s of them.
  for (const r of rows.filter((x) => x.nodes > 1)) {
    const redisMax = r.redis_cpu_us_per_task > 0 ? 1e6 / r.redis_cpu_us_per_task : Infinity;
    console.log(`${r.stage}: one Redis core ≈ ${Math.round(redisMax)} tasks/s → ≈ ${Math.floor(redisMax / r.per_node_s)} nodes at ${r.per_node_s} tasks/s each`);
  }
  console.log(JSON.stringify({ rows, logs: join(c.root, "logs") }));
} finally {
  c.destroy();
}
