import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { usageError } from "../../src/core/errors.ts";
import { table } from "../../src/cli/table.ts";

function missingKey(): never {
  throw usageError("--key-file is required with --master (or `sync.key_file` in the config)");
}

export class SyncStatusCommand extends FalcCommand {
  static paths = [["sync", "status"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Show sync nodes and their last syncs (from the master, or through a worker)",
    details: `
      Asks the master or worker running with this FALC_HOME (a worker forwards the question to its master),
      or, with --master and --key-file, a master over the network. Shows every node the master has seen:
      connected or not, address, the last integrity sync (when, how long, files missing/changed/extra),
      the last info send, the entries the node leaves alone (REFUSED: names that cannot travel, fifos…),
      its last failed sync (LAST ERROR), groups and when it was last heard from; above the table, the
      master's own entries that are not synced.
    `,
    examples: [
      ["Nodes of the master or worker on this machine", "falc sync status"],
      ["A remote master, as JSON", "falc sync status --master 10.0.0.1:1516 --key-file cluster.key --json"],
    ],
  });
  master = Option.String("--master", { description: "Ask this master HOST:PORT directly" });
  keyFile = Option.String("--key-file", { description: "Cluster key file, with --master" });
  cluster = Option.String("--cluster", { description: "Cluster name, with --master (default falc)" });

  async run() {
    const { fetchLocalStatus, fetchRemoteStatus } = await import("../../src/sync/client.ts");
    const { loadKeyFile } = await import("../../src/sync/crypto.ts");
    const { parseHostPort, syncConfig } = await import("../../src/sync/config.ts");
    const { STATUS_HEADER, statusRows } = await import("../../src/sync/status.ts");
    const c = syncConfig(this.config);
    const doc =
      this.master !== undefined
        ? await fetchRemoteStatus({
            ...parseHostPort(this.master, "--master"),
            key: loadKeyFile(this.keyFile ?? c.key_file ?? missingKey()),
            cluster: this.cluster ?? c.cluster,
          })
        : await fetchLocalStatus(this.config.home);
    if (this.json) return this.outJson(doc);
    const m = doc.master;
    this.out(`master ${m.name} (cluster ${m.cluster}, falc ${m.version}) on ${m.listen}: ${m.files} entries, ${m.bytes} bytes in ${m.dir}${doc.via ? ` — via worker ${doc.via}` : ""}`);
    if (m.refusedCount) this.out(`not synced from the master's tree: ${m.refused.map((x) => `${x.path} (${x.why})`).join(", ")}${m.refusedCount > m.refused.length ? ` and ${m.refusedCount - m.refused.length} more` : ""}`);
    this.out(table(STATUS_HEADER, statusRows(doc)));
  }
}
