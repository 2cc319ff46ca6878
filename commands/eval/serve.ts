import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { notBuilt } from "../../src/cli/not-built.ts";

export class EvalServeCommand extends FalcCommand {
  static paths = [["eval", "serve"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Serve the eval queue-service HTTP API (/tasks, /tasks/next, /health)",
    examples: [["Serve on 8081", "falc eval serve --port 8081"]],
  });
  port = Option.String("--port", "8081");
  async run() {
    notBuilt("eval serve");
  }
}
