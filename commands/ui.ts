import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { usageError } from "../src/core/errors.ts";

const VIEWS = ["workers", "queues", "tasks", "scans", "sync"];

export class UiCommand extends FalcCommand {
  static paths = [["ui"]];
  static usage = Command.Usage({
    category: "Workers",
    description: "Open the terminal UI: workers, queues, tasks, scans, sync",
    details: `
      Attaches to the deployment's queue and shows live worker states, per-stage queue counts, recent tasks
      (filter with \`/\`, e.g. \`stage:scan status:failed\`), scan progress and sync status.

      Keys: tab or ←/→ switch views (or 1-5), ↑/↓ select, enter shows a task's detail, \`/\` filters,
      \`c\` cancels the selected task (asks first), \`r\` retries it, \`q\` quits. NO_COLOR turns colours off.

      It needs a terminal; off a terminal use \`--json\` for one snapshot of the same data.
    `,
    examples: [
      ["Attach to the local deployment", "falc ui"],
      ["Attach to a Redis deployment", "falc ui --queue redis://10.0.0.1:6379/0"],
      ["Start on the tasks view", "falc ui --view tasks"],
      ["One JSON snapshot of what the UI shows", "falc ui --json"],
      ["Show a remote sync master's nodes in the sync view", "falc ui --sync 10.0.0.1:1516 --key-file cluster.key"],
    ],
  });

  view = Option.String("--view", "workers", { description: "View to start on: workers|queues|tasks|scans|sync" });
  sync = Option.String("--sync", {
    description: "Sync master HOST:PORT for the sync view (default: sync.master, else the sync node on this machine)",
  });
  keyFile = Option.String("--key-file", { description: "Cluster key file for --sync" });

  async run() {
    if (!VIEWS.includes(this.view)) throw usageError(`unknown view \`${this.view}\`: use one of ${VIEWS.join(", ")}`);
    const { syncSourceFor } = await import("../src/sync/run.ts");
    const sync = syncSourceFor(this.config, this.sync, this.keyFile);
    if (this.json) {
      const { tuiSnapshot } = await import("../src/tui/snapshot.ts");
      this.outJson(await tuiSnapshot(await this.queue(), sync));
      return;
    }
    if (!process.stdout.isTTY) throw usageError("falc ui needs a terminal; use `falc ui --json` or `falc tasks ...` in scripts");
    const { runTui } = await (await import("../src/tui/load.ts")).loadTui();
    await runTui({ queue: await this.queue(), log: this.log, view: this.view as never, sync });
  }
}
