import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";

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
      /health needs \`Authorization: Bearer KEY\` or \`X-API-Key: KEY\`. Stops on SIGINT/SIGTERM.
    `,
    examples: [
      ["Serve on 8081 (loopback)", "falc eval serve --port 8081"],
      ["On all interfaces, with a key, on Redis", "FALC_EVAL_API_KEY=s3cret falc eval serve --host 0.0.0.0 --queue redis://127.0.0.1:6379/0"],
    ],
  });
  port = Option.String("--port", "8081", { description: "TCP port (default 8081; 0 picks one)" });
  host = Option.String("--host", "127.0.0.1", { description: "Address to bind (default 127.0.0.1)" });
  apiKey = Option.String("--api-key", { description: "Require this key (default $FALC_EVAL_API_KEY; none)" });

  async run() {
    const { serveEval } = await import("../../src/eval/server.ts");
    const { evalSettings } = await import("../../src/eval/config.ts");
    const settings = evalSettings(this.config);
    const port = parseIntOption("--port", this.port, { min: 0, max: 65535 })!;
    const queue = await this.queue();
    const server = serveEval({ queue, port, hostname: this.host, apiKey: this.apiKey ?? process.env.FALC_EVAL_API_KEY, log: this.log, maxLimits: settings.maxLimits, languages: settings.languages });
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
