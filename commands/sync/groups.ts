import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { table } from "../../src/cli/table.ts";
import { usageError } from "../../src/core/errors.ts";

export class SyncGroupsSetCommand extends FalcCommand {
  static paths = [["sync", "groups", "set"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Assign a node to groups (replaces its groups; none clears them)",
    details: `
      Run on the master's machine (same FALC_HOME). The assignment is stored in the master's database and
      pushed to the workers at once when the master runs, else when it next starts. Groups say which stages
      and scan profiles a node serves; their definitions live in the master's config under \`sync.groups\`.
      A worker keeps the table in FALC_HOME/sync/groups.json. A node the master has never seen is refused
      (exit 2) unless --allow-unknown.
    `,
    examples: [
      ["node-2 serves the web and scan groups", "falc sync groups set node-2 web scan"],
      ["Clear node-2's groups", "falc sync groups set node-2"],
      ["A node that has not joined yet", "falc sync groups set node-9 web --allow-unknown"],
    ],
  });
  allowUnknown = Option.Boolean("--allow-unknown", false, { description: "Accept a node that has never connected (it gets the groups when it joins)" });
  node = Option.String({ required: true });
  groups = Option.Rest();

  async run() {
    const { checkNodeName } = await import("../../src/sync/config.ts");
    const { callControl, controlPath } = await import("../../src/sync/control.ts");
    const { GROUP_RE } = await import("../../src/sync/groups.ts");
    const { setGroups } = await import("../../src/sync/run.ts");
    const node = checkNodeName(this.node, "NODE");
    for (const g of this.groups) if (!GROUP_RE.test(g)) throw usageError(`group \`${g.slice(0, 70)}\`: group names are letters, digits, _ . - (up to 64)`);
    const all = setGroups(this.config.home, node, this.groups, this.allowUnknown);
    // A running master pushes now; without one the change waits in its database.
    const pushed = await callControl(controlPath(this.config.home, "master"), { op: "groups_changed" }, 5000).then(
      () => true,
      () => false,
    );
    if (this.json) return this.outJson({ node, groups: all[node] ?? [], pushed });
    this.out(`${node}: ${(all[node] ?? []).join(", ") || "(no groups)"}${pushed ? "" : " (no master running here: pushed when it starts)"}`);
  }
}

export class SyncGroupsListCommand extends FalcCommand {
  static paths = [["sync", "groups", "list"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "List the master's group assignments",
    examples: [["All assignments as JSON", "falc sync groups list --json"]],
  });

  async run() {
    const { listGroups } = await import("../../src/sync/run.ts");
    const all = listGroups(this.config.home);
    if (this.json) return this.outJson(all);
    this.out(table(["NODE", "GROUPS"], Object.entries(all).map(([n, g]) => [n, g.join(", ")])));
  }
}
