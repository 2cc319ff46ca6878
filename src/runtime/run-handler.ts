import { mkdirSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLogger } from "../core/logger.ts";
import { usageError } from "../core/errors.ts";
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import { StageRegistry } from "../stages/registry.ts";
import type { Queue } from "../queue/types.ts";
import { WorkerHandler } from "./handler.ts";
import { startHealthServer } from "./health.ts";

export interface RunHandlerOptions {
  config: Config;
  log: Logger;
  queue: Queue;
  counts: Record<string, number>;
  stagePaths: string[];
  childArgs: string[];
  childEnv?: Record<string, string>;
  leaseMs: number;
  graceMs: number;
  pollMs: number;
  health: { port: number; host: string } | null;
  tui: boolean;
}

/**
 * Two machines (or two FALC_HOMEs) under one node id would show as one node and mix their records: the second
 * is refused at start. Best effort: when the queue cannot be asked yet, the worker starts and says so.
 */
async function refuseDuplicateNode(queue: Queue, handler: WorkerHandler, log: Logger): Promise<void> {
  let workers;
  try {
    workers = await queue.listWorkers();
  } catch (e) {
    log.warn({ event: "node_check_skipped", node: handler.host, err: (e as Error).message }, "could not check that this node id is not in use elsewhere");
    return;
  }
  const clash = workers.find((w) => w.kind === "handler" && w.host === handler.host && w.fingerprint && w.fingerprint !== handler.fingerprint);
  if (clash)
    throw usageError(
      `node id \`${handler.host}\` is already used by a live worker (${clash.name}) on another machine or FALC_HOME: give this node its own \`node:\` in falc.yaml or FALC_NODE`,
    );
}

/** `falc worker`: check the stages exist, start the handler and its health server, stop on a signal. */
export async function runHandler(o: RunHandlerOptions): Promise<number> {
  // Unknown stages and broken stage files fail here, once, instead of in a restart loop.
  const registry = new StageRegistry();
  await registry.addPaths(o.stagePaths);
  for (const stage of Object.keys(o.counts)) await registry.get(stage);
  // Children resolve stage paths and FALC_HOME exactly as we did.
  process.env.FALC_HOME = o.config.home;
  const childArgs = o.childArgs.map((a, i) => (o.childArgs[i - 1] === "--stage-path" ? resolve(a) : a));

  // While the TUI owns the terminal, the handler's and children's logs go to a file instead.
  let log = o.log;
  let childStderr: number | undefined;
  let logFile: string | undefined;
  if (o.tui) {
    const dir = join(o.config.home, "logs");
    mkdirSync(dir, { recursive: true });
    logFile = join(dir, `worker-${process.pid}.log`);
    childStderr = openSync(logFile, "a");
    log = createLogger({ level: o.config.log_level, fd: childStderr });
  }

  const handler = new WorkerHandler({ ...o, log, childArgs, childStderr });
  // The health port is taken before any child starts: a port in use is exit 2, not a worker another process answers for.
  // It is served before the queue is reached, so a worker that waits for Redis at start says so on /health (503).
  const health = o.health ? startHealthServer(handler, o.queue, o.health.port, log, o.health.host) : null;
  try {
    await o.queue.connect?.();
    await refuseDuplicateNode(o.queue, handler, log);
  } catch (e) {
    health?.stop();
    throw e;
  }
  handler.start();

  // Services of the stages served here (the scan scheduler), once per handler, stopped with it.
  const services = new AbortController();
  for (const stage of Object.keys(o.counts)) {
    const h = await registry.get(stage);
    if (!h.service) continue;
    void h.service({ queue: o.queue, config: o.config, log: log.child({ service: stage }), signal: services.signal }).catch((e) =>
      log.error({ event: "service_failed", stage, err: (e as Error).message }, `the ${stage} stage's service stopped: ${(e as Error).message}`),
    );
  }

  let signals = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= handler.stop().then(resolveDone));
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ event: "forced_stop", signal: sig }, "second signal: stopping now");
      process.exit(130);
    }
    log.info({ event: "signal", signal: sig }, `${sig}: finishing running tasks (send again to force)`);
    void stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  if (o.tui) {
    const { runTui } = await (await import("../tui/load.ts")).loadTui();
    // Quitting the TUI (q, ctrl-c) stops the worker the same way a signal does.
    await runTui({ queue: o.queue, log, title: `falc worker ${Object.keys(o.counts).join(",")} (logs: ${logFile})`, until: done });
    void stop();
  }
  await done;
  services.abort();
  health?.stop();
  return 0;
}
