import type { Config } from "../core/config.ts";
import { usageError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { parseIntOption } from "../cli/options.ts";
import type { Queue } from "../queue/types.ts";

/** `falc worker`'s flags, as given (strings), and what the command already has: the command stays thin. */
export interface WorkerFlags {
  config: Config;
  log: Logger;
  /** Opens the queue (a handler's only: a child talks to its handler, never to the queue). */
  queue: () => Promise<Queue>;
  stage?: string;
  count: string[];
  stagePath: string[];
  healthPort?: string;
  healthHost: string;
  noHealth: boolean;
  lease?: string;
  grace?: string;
  pollMs?: string;
  /** Show the TUI (asked for, and stdout is a terminal). */
  tui: boolean;
  /** Set when this process is a handler's child (hidden flags --child, --socket). */
  child?: string;
  socket?: string;
  /** Passed on to the children, so they read the same config and log at the same level. */
  configPath?: string;
  logLevel?: string;
}

/** Run a handler (the default) or, with --child, one of its children; resolves to the exit code. */
export async function runWorker(f: WorkerFlags): Promise<number> {
  if (!f.stage) throw usageError("falc worker needs --stage, e.g. --stage pre (see falc worker --help)");
  const stagePaths = [...f.config.stage_paths, ...f.stagePath];
  if (f.child) {
    if (!f.socket) throw usageError("--child needs --socket");
    const { runChild } = await import("./child.ts");
    // The queue URL (password included) came in the environment; what the stage starts does not need it.
    delete process.env.FALC_QUEUE;
    const code = await runChild({ name: f.child, stage: f.stage, socketPath: f.socket, config: f.config, log: f.log.child({ worker: f.child }), stagePaths });
    // Whatever a stage left open (sockets, timers) must not keep a finished child alive.
    process.exit(code);
  }
  const { parseStageCounts } = await import("./counts.ts");
  const { runHandler } = await import("./run-handler.ts");
  const counts = parseStageCounts(f.stage, f.count, f.config.workers);
  // The queue URL goes to the children in the environment, never in argv (ps shows argv to every user).
  const childArgs = [...(f.configPath ? ["--config", f.configPath] : []), ...f.stagePath.flatMap((p) => ["--stage-path", p])];
  if (f.logLevel) childArgs.push("--log-level", f.logLevel);
  return runHandler({
    config: f.config,
    log: f.log,
    queue: await f.queue(),
    counts,
    stagePaths,
    childArgs,
    childEnv: { FALC_QUEUE: f.config.queue },
    leaseMs: (parseIntOption("--lease", f.lease, { min: 1, max: 86400 }) ?? 30) * 1000,
    graceMs: (parseIntOption("--grace", f.grace, { min: 0, max: 86400 }) ?? 30) * 1000,
    pollMs: parseIntOption("--poll-ms", f.pollMs, { min: 10, max: 60_000 }) ?? 200,
    health: f.noHealth ? null : { port: parseIntOption("--health-port", f.healthPort, { min: 0, max: 65535 }) ?? f.config.health_port, host: f.healthHost },
    tui: f.tui,
  });
}
