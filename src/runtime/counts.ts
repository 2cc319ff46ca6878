import { usageError } from "../core/errors.ts";
import { STAGE_NAME } from "../core/task.ts";

/** `--stage pre,post` and `--count pre=2` (repeatable or comma-separated) → stage → children. */
export function parseStageCounts(stageArg: string, countArgs: string[], configured: Record<string, number>): Record<string, number> {
  const stages = stageArg.split(",").map((s) => s.trim()).filter(Boolean);
  if (!stages.length) throw usageError("--stage needs at least one stage name, e.g. --stage pre or --stage identification,pre");
  for (const s of stages) if (!STAGE_NAME.test(s)) throw usageError(`invalid stage name \`${s}\``);
  const counts: Record<string, number> = {};
  for (const s of stages) counts[s] = configured[s] ?? 1;
  for (const arg of countArgs.flatMap((a) => a.split(","))) {
    const m = /^\s*([a-z][a-z0-9_-]*)\s*=\s*(\d+)\s*$/.exec(arg);
    if (!m) throw usageError(`--count takes stage=N (e.g. --count pre=4), got \`${arg}\``);
    const [, stage, n] = m;
    if (!(stage! in counts)) throw usageError(`--count names stage \`${stage}\`, which is not in --stage ${stages.join(",")}`);
    const k = Number(n);
    if (k < 1 || k > 256) throw usageError(`--count ${stage}=${k}: the number of workers must be between 1 and 256`);
    counts[stage!] = k;
  }
  return counts;
}
