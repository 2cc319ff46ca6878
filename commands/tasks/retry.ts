import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";

export class TasksRetryCommand extends FalcCommand {
  static paths = [["tasks", "retry"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "Queue a failed or cancelled task again, with its attempts reset",
    examples: [["Retry a task", "falc tasks retry tmhx3k2a01b2c3d4e5f6"]],
  });
  id = Option.String({ required: true });
  async run() {
    const t = await (await this.queue()).retry(this.id);
    if (this.json) this.outJson(t);
    else this.out(`${t.id} queued again`);
  }
}
