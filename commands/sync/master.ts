import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { notBuilt } from "../../src/cli/not-built.ts";

export class SyncMasterCommand extends FalcCommand {
  static paths = [["sync", "master"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Run the sync master: holds the shared tree, receives worker info, assigns groups",
    details: `
      Listens for worker nodes (default port 1516). All traffic is authenticated and encrypted
      with the cluster key. Workers mirror --dir exactly (integrity sync by BLAKE2b-256).
    `,
    examples: [["Serve ./shared to workers", "falc sync master --listen 0.0.0.0:1516 --dir ./shared --key-file cluster.key"]],
  });
  listen = Option.String("--listen", "0.0.0.0:1516");
  dir = Option.String("--dir");
  keyFile = Option.String("--key-file");
  async run() {
    notBuilt("sync master");
  }
}
