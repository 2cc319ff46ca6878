import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { usageError } from "../src/core/errors.ts";
import { parseIntOption } from "../src/cli/options.ts";

export class WorkerCommand extends FalcCommand {
  static paths = [["worker"]];
  static usage = Command.Usage({
    category: "Workers",
    description: "Run stage workers: a handler that starts, tracks and feeds child worker processes",
    details: `
      The handler starts N child processes per stage (named <stage><n>, e.g. pre0), tracks them
      (setup, idle, working), claims tasks from the queue only for idle children and feeds them
      over unix sockets. A child that dies or runs past its task's timeout is killed and restarted
      and its task requeued. SIGINT/SIGTERM stop claiming, let running tasks finish for --grace
      seconds, then give the rest back to the queue. /health and /metrics are served on
      --health-port (default 8082, 0 picks a free port).
    `,
    examples: [
      ["Two pre workers on the embedded queue", "falc worker --stage pre --count pre=2"],
      ["Identification and pre on a shared Redis", "falc worker --stage identification,pre --queue redis://10.0.0.1:6379/0"],
      ["A user stage from a file, JSON logs, no TUI", "falc worker --stage mystage --stage-path ./mystage.ts --no-tui"],
    ],
  });
  stage = Option.String("--stage", { description: "Stage(s) to serve, comma-separated" });
  count = Option.Array("--count", [], { description: "Children per stage: stage=N (default 1, or `workers:` in config)" });
  stagePath = Option.Array("--stage-path", [], { description: "Load a stage module from this file (repeatable)" });
  healthPort = Option.String("--health-port", { description: "Port for /health and /metrics (0 = any free port)" });
  healthHost = Option.String("--health-host", "127.0.0.1", { description: "Address for /health and /metrics" });
  noHealth = Option.Boolean("--no-health", false, { description: "Do not serve /health and /metrics" });
  lease = Option.String("--lease", { description: "Seconds a claimed task stays held without a heartbeat (default 30)" });
  grace = Option.String("--grace", { description: "Seconds running tasks may finish after SIGINT/SIGTERM (default 30)" });
  pollMs = Option.String("--poll-ms", { description: "Milliseconds between queue polls when idle (default 200)" });
  noTui = Option.Boolean("--no-tui", false, { description: "Never show the TUI, even on a terminal" });
  child = Option.String("--child", { hidden: true });
  socket = Option.String("--socket", { hidden: true });

  async run() {
    const { runChild } = await import("../src/runtime/child.ts");
    const { parseStageCounts } = await import("../src/runtime/counts.ts");
    const { runHandler } = await import("../src/runtime/run-handler.ts");
    if (!this.stage) throw usageError("falc worker needs --stage, e.g. --stage pre (see falc worker --help)");
    const stagePaths = [...this.config.stage_paths, ...this.stagePath];
    if (this.child) {
      if (!this.socket) throw usageError("--child needs --socket");
      // The queue URL (password included) came in the environment; what the stage starts does not need it.
      delete process.env.FALC_QUEUE;
      const code = await runChild({ name: this.child, stage: this.stage, socketPath: this.socket, config: this.config, log: this.log.child({ worker: this.child }), stagePaths });
      // Whatever a stage left open (sockets, timers) must not keep a finished child alive.
      process.exit(code);
    }
    const counts = parseStageCounts(this.stage, this.count, this.config.workers);
    // The queue URL goes to the children in the environment, never in argv (ps shows argv to every user).
    const childArgs = [...(this.configPath ? ["--config", this.configPath] : []), ...this.stagePath.flatMap((p) => ["--stage-path", p])];
    if (this.logLevel) childArgs.push("--log-level", this.logLevel);
    return runHandler({
      config: this.config,
      log: this.log,
      // A worker outlives Redis restarts: it waits for the queue instead of failing.
      queue: await this.queue({ persistent: true, log: this.log, deferConnect: true }),
      counts,
      stagePaths,
      childArgs,
      childEnv: { FALC_QUEUE: this.config.queue },
      leaseMs: (parseIntOption("--lease", this.lease, { min: 1, max: 86400 }) ?? 30) * 1000,
      graceMs: (parseIntOption("--grace", this.grace, { min: 0, max: 86400 }) ?? 30) * 1000,
      pollMs: parseIntOption("--poll-ms", this.pollMs, { min: 10, max: 60_000 }) ?? 200,
      health: this.noHealth ? null : { port: parseIntOption("--health-port", this.healthPort, { min: 0, max: 65535 }) ?? this.config.health_port, host: this.healthHost },
      tui: !this.noTui && Boolean(process.stdout.isTTY),
    });
  }
}
