import { Command } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { notBuilt } from "../../src/cli/not-built.ts";

export class SyncStatusCommand extends FalcCommand {
  static paths = [["sync", "status"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Show sync nodes and their last syncs (from the master, or through a worker)",
    examples: [["Nodes as JSON", "falc sync status --json"]],
  });
  async run() {
    notBuilt("sync status");
  }
}
