import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";
import { usageError } from "../../src/core/errors.ts";

export class EvalServeCommand extends FalcCommand {
  static paths = [["eval", "serve"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Serve the eval queue-service HTTP API (/tasks, /tasks/next, /health)",
    details: `
      Backed by falc's queue (stage \`eval\`; --queue sqlite or redis://…). Routes:
      POST /tasks {eval_id, code, language, engine, timeout, priority}; GET /tasks/next?worker=W (200 with
      null when empty); POST /tasks/{id}/complete {worker, result}; POST /tasks/{id}/fail {worker, error};
      GET /tasks/{id}; GET /status; GET /health. With --api-key (or FALC_EVAL_API_KEY) every route but
      /health needs \`Authorization: Bearer KEY\` or \`X-API-Key: KEY\`; beyond loopback a key is required
      (exit 2 without one). A task handed out and not reported within its timeout plus --lease-grace goes
      back to the queue (attempt counted), or fails after its last attempt. Stops on SIGINT/SIGTERM.
    `,
    examples: [
      ["Serve on 8081 (loopback)", "falc eval serve --port 8081"],
      ["On all interfaces, with a key, on Redis", "FALC_EVAL_API_KEY=s3cret falc eval serve --host 0.0.0.0 --queue redis://127.0.0.1:6379/0"],
    ],
  });
  port = Option.String("--port", "8081", { description: "TCP port (default 8081; 0 picks one)" });
  host = Option.String("--host", "127.0.0.1", { description: "Address to bind (default 127.0.0.1)" });
  apiKey = Option.String("--api-key", { description: "Require this key (default $FALC_EVAL_API_KEY; required beyond loopback)" });
  leaseGrace = Option.String("--lease-grace", { description: "Seconds a handed-out task may run past its timeout before it is reclaimed (default 60)" });

  async run() {
    const { serveEval, isLoopbackHost } = await import("../../src/eval/server.ts");
    const { evalSettings } = await import("../../src/eval/config.ts");
    const settings = evalSettings(this.config);
    const port = parseIntOption("--port", this.port, { min: 0, max: 65535 })!;
    const apiKey = this.apiKey ?? process.env.FALC_EVAL_API_KEY;
    if (!apiKey && !isLoopbackHost(this.host)) throw usageError(`--host ${this.host} is beyond loopback: give --api-key or FALC_EVAL_API_KEY (anyone who reaches the port could run code)`);
    const leaseGraceS = parseIntOption("--lease-grace", this.leaseGrace, { min: 0, max: 3600 });
    const queue = await this.queue();
    const server = serveEval({ queue, port, hostname: this.host, apiKey, leaseGraceS, log: this.log, maxLimits: settings.maxLimits, languages: settings.languages });
    const url = `http://${this.host}:${server.port}`;
    this.log.info({ event: "serve_started", url, queue: queue.url }, `eval queue service on ${url}`);
    if (this.json) this.outJson({ url, port: server.port, queue: queue.url });
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    server.stop(true);
    this.log.info({ event: "serve_stopped" }, "eval queue service stopped");
  }
}
