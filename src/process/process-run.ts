/**
 * `falc process FILE|URL...`: check the inputs, then process them here (in lanes) or queue them, and
 * say what came of each. The command (commands/process.ts) parses options and prints; this decides.
 */
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import type { Queue } from "../queue/types.ts";
import { processConfig } from "./config.ts";
import { checkInputs } from "./inputs.ts";
import { processInLanes } from "./lanes.ts";
import type { Settings } from "./schemas.ts";
import { processLocally, submitToQueue, waitForAnalysis } from "./submit.ts";
import { openStore } from "./storage.ts";
import { type AnalysisSummary, summarize } from "./summary.ts";

export interface ProcessRequest {
  targets: string[];
  settings: Partial<Settings>;
  submit: boolean;
  wait: boolean;
  pluginDirs: string[];
  /** This process is a lane of a larger run: one lane, no lanes of its own. */
  lane: boolean;
  /** The arguments a lane child needs to do the same work. */
  laneArgs: string[];
}

export interface ProcessIo {
  config: Config;
  log: Logger;
  queue: () => Promise<Queue>;
  /** One line about the run (refused inputs), for stderr. */
  warn: (line: string) => void;
  /** Progress on a terminal: the index of the input being worked on, or null to clear the line. */
  progress?: (i: number | null, target: string, total: number) => void;
}

export type ProcessOutcome =
  | { kind: "queued"; ids: string[]; rejected: Rejected[] }
  | { kind: "summaries"; summaries: AnalysisSummary[]; rejected: Rejected[] };

export type Rejected = { index: number; input: string; error: string };

export async function runProcess(req: ProcessRequest, io: ProcessIo): Promise<ProcessOutcome> {
  // This command's storage handle: its writes go through one group commit.
  const store = openStore(io.config.home);
  // Every input checked before the first is stored; a bad one is reported and the others go on.
  const { targets, subs, rejected } = checkInputs(req.targets);
  for (const r of rejected) io.warn(`${r.error} (skipped; the other inputs go on)`);
  const progress = (i: number) => io.progress?.(i, targets[i]!, subs.length);
  const ac = new AbortController();
  const onSig = () => ac.abort(new Error("interrupted"));
  process.once("SIGINT", onSig);
  try {
    if (req.submit) {
      const queue = await io.queue();
      const ids = await submitToQueue({ store, config: io.config, queue }, subs, req.settings, progress);
      if (!req.wait) return { kind: "queued", ids, rejected };
      for (const id of ids) await waitForAnalysis({ store, queue, signal: ac.signal, onState: (s) => io.log.debug({ event: "analysis_state", analysis_id: id, state: s }, `${id} ${s}`) }, id);
      return { kind: "summaries", summaries: ids.map((id) => summarize(store, id)), rejected };
    }
    const local = { store, config: io.config, log: io.log, pluginDirs: req.pluginDirs, signal: ac.signal };
    const summaries = await processInLanes(
      {
        lanes: req.lane ? 1 : processConfig(io.config).local_processes,
        log: io.log,
        laneArgs: req.laneArgs,
        here: async (idx, onEach) => (await processLocally(local, idx.map((i) => subs[i]!), req.settings, onEach)).map((r) => summarize(store, r.id, r.known)),
      },
      targets,
      subs,
      progress,
    );
    return { kind: "summaries", summaries, rejected };
  } finally {
    process.off("SIGINT", onSig);
    io.progress?.(null, "", subs.length);
  }
}
