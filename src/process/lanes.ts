/**
 * `falc process FILE...` with many files uses more than one core: the files are dealt into lanes by
 * their expected cost, this process works through the first and a `falc process --lane` child
 * process through each other one (same binary, same config and options); the summaries come back
 * as JSON and are merged in the order the files were given. Each lane commits its own analyses
 * (durable.ts), so a lane that fails loses nothing another lane did.
 */
import { availableParallelism } from "node:os";
import { statSync } from "node:fs";
import { workFailed } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { selfCommand } from "../runtime/self.ts";
import type { Submission } from "./storage.ts";
import type { AnalysisSummary } from "./summary.ts";

/** Below this much expected work a second process (≈0.1 s to start and load plugins) does not pay. */
const MIN_WORK_MS = 400;
const MIN_FILES = 4;

/** Milliseconds a submission is expected to take here: a fixed part and the hashing and scanning of its bytes. */
export function expectedCostMs(sub: Submission): number {
  if (sub.category !== "file") return 1;
  let size = 0;
  try {
    size = statSync(sub.path).size;
  } catch {}
  return 3 + (size / 1e6) * 6;
}

/**
 * How many lanes: `configured` when set (never more than the files), else one per core (up to 4)
 * when there is enough work to share (each lane is a process to start).
 */
export function laneCount(costs: number[], configured: number): number {
  if (configured > 0) return Math.max(1, Math.min(configured, costs.length));
  const want = Math.min(availableParallelism(), 4);
  if (want <= 1 || costs.length < MIN_FILES) return 1;
  const total = costs.reduce((a, b) => a + b, 0);
  return Math.max(1, Math.min(want, costs.length, Math.floor(total / MIN_WORK_MS) + 1));
}

/**
 * Deal file indexes into `n` lanes, the most expensive first, each to the lane with the least work so
 * far (longest-processing-time first); lane 0 (this process) also prints every summary, so it starts
 * with a little work already counted. Each lane keeps the given order.
 */
export function splitLanes(costs: number[], n: number): number[][] {
  const lanes = Array.from({ length: n }, () => [] as number[]);
  const load = Array.from({ length: n }, (_, i) => (i === 0 ? costs.length * 0.3 : 0));
  const order = costs.map((c, i) => [c, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [c, i] of order) {
    let best = 0;
    for (let k = 1; k < n; k++) if (load[k]! < load[best]!) best = k;
    lanes[best]!.push(i);
    load[best]! += c;
  }
  for (const l of lanes) l.sort((a, b) => a - b);
  return lanes.filter((l) => l.length);
}

export interface LaneChild {
  /** The lane's summaries, in its order; rejects with the child's error line when it failed. */
  done: Promise<AnalysisSummary[]>;
  kill(): void;
}

/**
 * Start `falc process --lane --json [options] -- FILE...` for one lane. Its stdout is one JSON array
 * of summaries; its stderr (log lines, an error) goes to ours.
 */
export function startLane(args: string[], targets: string[], env: Record<string, string | undefined> = process.env): LaneChild {
  const proc = Bun.spawn([...selfCommand(), "process", "--lane", "--json", ...args, "--", ...targets], {
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = new Response(proc.stdout).text();
  const done = (async () => {
    const [code, text] = await Promise.all([proc.exited, out]);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed)) throw workFailed(`a \`falc process\` lane process for ${targets.length} file(s) ended with exit code ${code} and no summaries (its error is above)`);
    return parsed as AnalysisSummary[];
  })();
  return { done, kill: () => proc.kill("SIGTERM") };
}

export interface LocalRun {
  /** Lanes from config (process.local_processes; 0 = one per core, up to 4). */
  lanes: number;
  log?: Logger;
  /** Options a lane child needs to do the same work: --config, --log-level, --plugin-dir, --platform, --password, --priority. */
  laneArgs: string[];
  /** Runs this process's share: its committed analyses' summaries, in the order given. */
  here(subs: number[], onEach: (i: number) => void): Promise<AnalysisSummary[]>;
}

/**
 * The files of `falc process FILE...` over one or more lanes; summaries in the order of `targets`.
 * A lane child that fails is reported after this process's own share is done and committed.
 */
export async function processInLanes(run: LocalRun, targets: string[], subs: Submission[], onEach?: (i: number) => void): Promise<AnalysisSummary[]> {
  const costs = subs.map(expectedCostMs);
  const n = laneCount(costs, run.lanes);
  const split = n > 1 ? splitLanes(costs, n) : [subs.map((_, i) => i)];
  run.log?.debug({ event: "process_lanes", lanes: split.length, files: split.map((l) => l.length) }, `${subs.length} file(s) over ${split.length} process(es)`);
  const children = split.slice(1).map((idx) => ({ idx, child: startLane(run.laneArgs, idx.map((i) => targets[i]!)) }));
  // A child's failure is seen after our own share; until then it must not be an unhandled rejection.
  for (const c of children) c.child.done.catch(() => {});
  const out: AnalysisSummary[] = new Array(subs.length);
  try {
    const mine = split[0]!;
    const got = await run.here(mine, (k) => onEach?.(mine[k]!));
    got.forEach((s, k) => (out[mine[k]!] = s));
  } catch (e) {
    for (const c of children) c.child.kill();
    throw e;
  }
  for (const { idx, child } of children) {
    const got = await child.done;
    if (got.length !== idx.length) throw workFailed(`a \`falc process\` lane process returned ${got.length} summaries for ${idx.length} files`);
    got.forEach((s, k) => (out[idx[k]!] = s));
  }
  return out.filter(Boolean);
}
