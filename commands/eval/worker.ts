import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";
import { usageError } from "../../src/core/errors.ts";

export class EvalWorkerCommand extends FalcCommand {
  static paths = [["eval", "worker"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Pull evals from an eval queue service and run them in local sandboxes",
    details: `
      Polls GET /tasks/next (every 1 s when empty), runs the code with the configured engines and
      limits, reports POST /tasks/{id}/complete (any sandbox outcome) or /fail (the sandbox could not
      run). When the service is down it backs off 5 s, 10 s, 20 s, then 30 s and recovers by itself.
      /health on --health-port (default 8082) shows the worker id, engines and queue URL. JSON log lines
      carry event, eval_id, engine and worker. For falc's own queue use \`falc worker --stage eval\`.
    `,
    examples: [
      ["Pull from a local service", "falc eval worker --queue-url http://127.0.0.1:8081"],
      ["Two sandboxes at a time, health on 9090", "falc eval worker --queue-url http://10.0.0.5:8081 --concurrency 2 --health-port 9090"],
    ],
  });
  queueUrl = Option.String("--queue-url", { description: "Base URL of the eval queue service (required)" });
  apiKey = Option.String("--api-key", { description: "API key (default $FALC_EVAL_API_KEY)" });
  healthPort = Option.String("--health-port", { description: "Port for /health (default: health_port config, 8082; 0 picks one)" });
  workerId = Option.String("--worker-id", { description: "Worker name (default eval-<host>-<pid>)" });
  concurrency = Option.String("--concurrency", "1", { description: "Evaluations at a time (default 1)" });
  backoff = Option.String("--backoff-step", { description: "Seconds of the first backoff (default 5: 5, 10, 20, 30 s)" });
  idle = Option.String("--idle-ms", { description: "Poll interval when the queue is empty, ms (default 1000)" });

  async run() {
    const { evalSettings } = await import("../../src/eval/config.ts");
    const { PullWorker } = await import("../../src/eval/pull-worker.ts");
    if (!this.queueUrl) throw usageError("--queue-url is required, e.g. --queue-url http://127.0.0.1:8081");
    if (!/^https?:\/\/[^\s]+$/.test(this.queueUrl)) throw usageError(`--queue-url must be an http(s) URL, got \`${this.queueUrl}\``);
    const settings = evalSettings(this.config);
    const step = parseIntOption("--backoff-step", this.backoff, { min: 1, max: 300 }) ?? 5;
    const worker = new PullWorker({
      queueUrl: this.queueUrl,
      apiKey: this.apiKey ?? process.env.FALC_EVAL_API_KEY,
      settings,
      log: this.log,
      id: this.workerId,
      backoffStepMs: step * 1000,
      backoffMaxMs: Math.max(30_000, step * 1000),
      idleMs: parseIntOption("--idle-ms", this.idle, { min: 10, max: 60_000 }) ?? 1000,
      concurrency: parseIntOption("--concurrency", this.concurrency, { min: 1, max: 64 }),
    });
    const port = parseIntOption("--health-port", this.healthPort, { min: 0, max: 65535 }) ?? this.config.health_port;
    const health = worker.serveHealth(port);
    this.log.info({ event: "health_started", port: health.port, worker: worker.state.worker }, `health on http://127.0.0.1:${health.port}/health`);
    const stop = () => worker.shutdown();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    await worker.run();
    health.stop();
  }
}
