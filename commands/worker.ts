import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";

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
    const { runWorker } = await import("../src/runtime/run-worker.ts");
    return runWorker({
      config: this.config,
      log: this.log,
      // A worker outlives Redis restarts: it waits for the queue instead of failing.
      queue: () => this.queue({ persistent: true, log: this.log, deferConnect: true }),
      stage: this.stage,
      count: this.count,
      stagePath: this.stagePath,
      healthPort: this.healthPort,
      healthHost: this.healthHost,
      noHealth: this.noHealth,
      lease: this.lease,
      grace: this.grace,
      pollMs: this.pollMs,
      tui: !this.noTui && Boolean(process.stdout.isTTY),
      child: this.child,
      socket: this.socket,
      configPath: this.configPath,
      logLevel: this.logLevel,
    });
  }
}
