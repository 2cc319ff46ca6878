import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";

export class SyncWorkerCommand extends FalcCommand {
  static paths = [["sync", "worker"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Run a sync worker node: mirrors the master's tree, reports its state up",
    details: `
      Connects to the master, proves the cluster key, and every interval (set by the master) sends the
      status of --dir; missing and changed files come back and are committed all at once (staged, verified
      by BLAKE2b-256, renamed into place, rolled back entirely on any failure); files the master does not
      have are removed. Local edits are overwritten. It also sends this node's record and new scan-ledger
      rows, and keeps the groups the master assigns in FALC_HOME/sync/groups.json.

      After any failure it reconnects with backoff (up to --reconnect-max seconds) and keeps running.
      \`--once\` syncs one time and exits (0 synced, 1 failed). One worker process per tree: a second one
      on the same --dir exits 2. A commit journal that cannot be read stops the worker (exit 1) with its
      backups kept; \`--recover\` moves both aside and lets the next sync repair the tree from the master.
    `,
    examples: [
      ["Join a master", "falc sync worker --master 10.0.0.1:1516 --dir ./shared --key-file cluster.key --name node-2"],
      ["After an unreadable-journal stop: keep the backups aside and resync", "falc sync worker --master 10.0.0.1 --dir ./shared --key-file cluster.key --recover"],
      ["Sync once from cron, as JSON", "falc sync worker --master 10.0.0.1 --dir ./shared --key-file cluster.key --name node-2 --once --json"],
    ],
  });
  master = Option.String("--master", { description: "Master HOST:PORT (port default 1516)" });
  dir = Option.String("--dir", { description: "Local tree that mirrors the master's" });
  keyFile = Option.String("--key-file", { description: "Cluster key file (mode 600)" });
  name = Option.String("--name", { description: "This node's name (default: the host name)" });
  cluster = Option.String("--cluster", { description: "Cluster name (default falc)" });
  once = Option.Boolean("--once", false, { description: "Sync one time and exit" });
  reconnectMax = Option.String("--reconnect-max", { description: "Longest wait between reconnects, seconds (default 30)" });
  recover = Option.Boolean("--recover", false, { description: "Set an unreadable commit journal and its backups aside, then resync" });

  async run() {
    const { makeWorker, roundLine, runWorker, runWorkerOnce } = await import("../../src/sync/run.ts");
    const w = await makeWorker({
      config: this.config,
      log: this.log,
      queue: () => this.queue(),
      master: this.master,
      dir: this.dir,
      keyFile: this.keyFile,
      name: this.name,
      cluster: this.cluster,
      reconnectMax: this.reconnectMax,
      recover: this.recover,
    });
    if (!this.once) return runWorker(w, this.config.home);
    const r = await runWorkerOnce(w);
    if (this.json) this.outJson(r);
    else this.out(roundLine(r));
    return r.ok ? 0 : 1;
  }
}
