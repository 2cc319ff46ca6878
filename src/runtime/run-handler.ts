import { resolve } from "node:path";
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
  leaseMs: number;
  graceMs: number;
  pollMs: number;
  health: { port: number; host: string } | null;
  tui: boolean;
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

  const handler = new WorkerHandler({ ...o, childArgs });
  handler.start();
  const health = o.health ? startHealthServer(handler, o.queue, o.health.port, o.log, o.health.host) : null;

  let signals = 0;
  const done = new Promise<void>((res) => {
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        o.log.warn({ event: "forced_stop", signal: sig }, "second signal: stopping now");
        process.exit(130);
      }
      o.log.info({ event: "signal", signal: sig }, `${sig}: finishing running tasks (send again to force)`);
      void handler.stop().then(res);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  await done;
  health?.stop();
  return 0;
}
