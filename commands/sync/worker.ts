import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { notBuilt } from "../../src/cli/not-built.ts";

export class SyncWorkerCommand extends FalcCommand {
  static paths = [["sync", "worker"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Run a sync worker node: mirrors the master's tree, reports its state up",
    examples: [["Join a master", "falc sync worker --master 10.0.0.1:1516 --dir ./shared --key-file cluster.key --name node-2"]],
  });
  master = Option.String("--master");
  dir = Option.String("--dir");
  keyFile = Option.String("--key-file");
  name = Option.String("--name");
  async run() {
    notBuilt("sync worker");
  }
}
