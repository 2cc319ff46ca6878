import { Command } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { notBuilt } from "../src/cli/not-built.ts";

export class UiCommand extends FalcCommand {
  static paths = [["ui"]];
  static usage = Command.Usage({
    category: "Workers",
    description: "Open the terminal UI: workers, queues, tasks, scans, sync",
    examples: [
      ["Attach to the local deployment", "falc ui"],
      ["Attach to a Redis deployment", "falc ui --queue redis://10.0.0.1:6379/0"],
    ],
  });
  async run() {
    notBuilt("ui");
  }
}
