import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";

export class TasksCancelCommand extends FalcCommand {
  static paths = [["tasks", "cancel"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "Cancel a task: a queued one never runs, a running one is told to stop",
    examples: [["Cancel a task", "falc tasks cancel tmhx3k2a01b2c3d4e5f6"]],
  });
  id = Option.String({ required: true });
  async run() {
    const t = await (await this.queue()).cancel(this.id);
    if (this.json) this.outJson(t);
    else this.out(`${t.id} cancelled${t.cancelRequested ? " (its worker is being told to stop)" : ""}`);
  }
}
