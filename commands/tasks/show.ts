import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { notFound } from "../../src/core/errors.ts";

export class TasksShowCommand extends FalcCommand {
  static paths = [["tasks", "show"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "Show one task with its payload, result and error",
    examples: [["Show a task", "falc tasks show tmhx3k2a01b2c3d4e5f6"]],
  });
  id = Option.String({ required: true });
  async run() {
    const { taskDetail } = await import("../../src/tasks/format.ts");
    const t = await (await this.queue()).get(this.id);
    if (!t) throw notFound(`no task with id ${this.id}`);
    if (this.json) this.outJson(t);
    else this.out(taskDetail(t));
  }
}
