import { Command } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { table } from "../../src/cli/table.ts";

export class TasksStatsCommand extends FalcCommand {
  static paths = [["tasks", "stats"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "Count tasks per stage and status",
    examples: [["Queue depth per stage", "falc tasks stats"]],
  });
  async run() {
    const { TASK_STATUSES } = await import("../../src/core/task.ts");
    const stats = await (await this.queue()).stats();
    if (this.json) return this.outJson(stats);
    const stages = Object.keys(stats).sort();
    if (!stages.length) return this.out("no tasks");
    this.out(table(["STAGE", ...TASK_STATUSES.map((s) => s.toUpperCase())], stages.map((s) => [s, ...TASK_STATUSES.map((st) => stats[s]![st])])));
  }
}
