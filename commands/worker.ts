import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { notBuilt } from "../src/cli/not-built.ts";

export class WorkerCommand extends FalcCommand {
  static paths = [["worker"]];
  static usage = Command.Usage({
    category: "Workers",
    description: "Run stage workers: a handler that starts, tracks and feeds child worker processes",
    examples: [["Two pre workers", "falc worker --stage pre --count pre=2"]],
  });
  stage = Option.String("--stage");
  async run() {
    notBuilt("worker");
  }
}
