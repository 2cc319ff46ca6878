import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { notFound } from "../../src/core/errors.ts";

export class TasksShowCommand extends FalcCommand {
  static paths = [["tasks", "show"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "Show one task: its fields, its timeline (time, event, state, worker, attempt, error) and one error per attempt",
    examples: [
      ["Show a task and its timeline", "falc tasks show tmhx3k2a01b2c3d4e5f6"],
      ["The same as JSON (the task, plus `timeline`)", "falc tasks show tmhx3k2a01b2c3d4e5f6 --json"],
    ],
  });
  id = Option.String({ required: true });
  async run() {
    const { taskDetail, timeline, timelineTable } = await import("../../src/tasks/format.ts");
    const q = await this.queue();
    const t = await q.get(this.id);
    if (!t) throw notFound(`no task with id ${this.id}`);
    const rows = timeline(t, await q.history(t.id));
    if (this.json) this.outJson({ ...t, timeline: rows });
    else this.out(`${taskDetail(t)}\n\n${timelineTable(rows)}`);
  }
}
