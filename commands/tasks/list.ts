import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { TASK_STATUSES, type TaskStatus } from "../../src/core/task.ts";
import { usageError } from "../../src/core/errors.ts";
import { parseIntOption } from "../../src/cli/options.ts";

export class TasksListCommand extends FalcCommand {
  static paths = [["tasks", "list"], ["tasks"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "List tasks, newest first",
    examples: [
      ["Failed scan tasks", "falc tasks list --stage scan --status failed"],
      ["As JSON for a script", "falc tasks list --json --limit 1000"],
    ],
  });
  stage = Option.String("--stage");
  status = Option.String("--status", { description: `One or more of ${TASK_STATUSES.join(",")} (comma-separated)` });
  limit = Option.String("--limit", { description: "At most this many (default 50)" });

  async run() {
    const { tasksTable } = await import("../../src/tasks/format.ts");
    let statuses: TaskStatus[] | undefined;
    if (this.status) {
      statuses = this.status.split(",").map((s) => s.trim()) as TaskStatus[];
      const bad = statuses.find((s) => !TASK_STATUSES.includes(s));
      if (bad) throw usageError(`unknown status \`${bad}\`; use one of ${TASK_STATUSES.join(", ")}`);
    }
    const q = await this.queue();
    const tasks = await q.list({ stage: this.stage, status: statuses, limit: parseIntOption("--limit", this.limit, { min: 1, max: 1_000_000 }) ?? 50 });
    if (this.json) this.outJson(tasks);
    else this.out(tasksTable(tasks));
  }
}
