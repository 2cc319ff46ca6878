/**
 * What `falc process FILE|URL...` prints and the exit code it returns, from what runProcess did: the
 * command only writes it out. Refused inputs keep their place in --json's array, as {input, error}.
 */
import { EXIT } from "../core/errors.ts";
import { scoreExit } from "./cli.ts";
import type { ProcessOutcome } from "./process-run.ts";
import { formatSummary } from "./summary.ts";

export interface ProcessPrint {
  /** Printed as JSON when set, else `text`. */
  json?: unknown;
  text?: string;
  code: number;
}

export function processOutput(out: ProcessOutcome, o: { json: boolean; lane: boolean; inputs: number; failScore?: number; top: number }, warn: (line: string) => void): ProcessPrint {
  const refused = out.rejected.length ? EXIT.failed : EXIT.ok;
  if (out.kind === "queued") {
    if (!o.json) return { text: out.ids.length ? out.ids.join("\n") : undefined, code: refused };
    return { json: out.ids.length === 1 ? { analysis_id: out.ids[0] } : out.ids.map((analysis_id) => ({ analysis_id })), code: refused };
  }
  // A lane's parent prints, and judges scores and failures for all lanes.
  if (o.lane) return { json: out.summaries, code: EXIT.ok };
  const all: unknown[] = [...out.summaries];
  for (const r of out.rejected) all.splice(r.index, 0, { input: r.input, error: r.error });
  const print: ProcessPrint = o.json ? { json: all.length === 1 ? all[0] : all, code: 0 } : { text: out.summaries.map((s) => formatSummary(s, { top: o.top })).join("\n\n"), code: 0 };
  const code = scoreExit(out.summaries, o.failScore, warn);
  if (out.rejected.length) warn(`${out.rejected.length} of ${o.inputs} input(s) refused`);
  return { ...print, code: Math.max(code, refused) };
}

/** The options a lane child needs to do the same work as its parent (never the password: see laneSettings). */
export function laneArgs(o: { configPath?: string; logLevel?: string; pluginDirs: string[]; platforms: string[]; priority?: string }): string[] {
  const a: string[] = [];
  if (o.configPath) a.push("--config", o.configPath);
  if (o.logLevel) a.push("--log-level", o.logLevel);
  for (const d of o.pluginDirs) a.push("--plugin-dir", d);
  for (const p of o.platforms) a.push("--platform", p);
  if (o.priority !== undefined) a.push("--priority", o.priority);
  return a;
}

/** The archive password: a lane child gets it in its environment, never in argv (ps shows argv to every user). */
export function lanePassword(given: string | undefined, lane: boolean): string | undefined {
  if (given !== undefined) process.env.FALC_LANE_PASSWORD = given;
  return given ?? (lane ? process.env.FALC_LANE_PASSWORD : undefined);
}
