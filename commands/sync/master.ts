import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";

export class SyncMasterCommand extends FalcCommand {
  static paths = [["sync", "master"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Run the sync master: holds the shared tree, receives worker info, assigns groups",
    details: `
      Listens for worker nodes (default port 1516). Every worker proves it holds the cluster key, then all
      traffic is AES-256-GCM with per-session keys. Workers mirror --dir exactly (integrity by BLAKE2b-256;
      only missing and changed files are sent, compressed), send their node record and scan-ledger rows up,
      and receive their groups (\`falc sync groups set\`). Stops on SIGINT/SIGTERM.

      Settings also come from the config's \`sync:\` section (listen, dir, key_file, cluster, exclude,
      keepalive_s, drop_after_s, interval_s, mismatch_limit, groups).
    `,
    examples: [
      ["Serve ./shared to workers", "falc sync master --listen 0.0.0.0:1516 --dir ./shared --key-file cluster.key"],
      ["Leave editor and VCS files out", "falc sync master --dir ./shared --key-file cluster.key --exclude '*.swp' --exclude .git"],
    ],
  });
  listen = Option.String("--listen", { description: "HOST:PORT to listen on (default 0.0.0.0:1516)" });
  dir = Option.String("--dir", { description: "The tree workers mirror" });
  keyFile = Option.String("--key-file", { description: "Cluster key file (mode 600; make one with `falc sync keygen`)" });
  name = Option.String("--name", { description: "This master's node name (default master)" });
  cluster = Option.String("--cluster", { description: "Cluster name workers must match (default falc)" });
  exclude = Option.Array("--exclude", { description: "Glob of paths not synced (repeatable); adds to sync.exclude" });
  keepalive = Option.String("--keepalive", { description: "Seconds between worker keep-alives (default 10)" });
  dropAfter = Option.String("--drop-after", { description: "Drop a worker silent this many seconds (default 30)" });
  interval = Option.String("--interval", { description: "Seconds between integrity checks, info sends and group pushes (default 10)" });

  async run() {
    const { startMaster } = await import("../../src/sync/run.ts");
    const m = await startMaster({
      config: this.config,
      log: this.log,
      listen: this.listen,
      dir: this.dir,
      keyFile: this.keyFile,
      name: this.name,
      cluster: this.cluster,
      exclude: this.exclude,
      keepalive: this.keepalive,
      dropAfter: this.dropAfter,
      interval: this.interval,
    });
    if (this.json) this.outJson({ listen: m.listen, port: m.port, dir: m.dir });
    await new Promise<void>((res) => {
      process.once("SIGINT", res);
      process.once("SIGTERM", res);
    });
    await m.stop();
  }
}

