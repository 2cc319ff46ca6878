import { Command } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { ago, table } from "../../src/cli/table.ts";

export class TasksWorkersCommand extends FalcCommand {
  static paths = [["tasks", "workers"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "List live workers and their states (setup, idle, working, ...)",
    examples: [["Workers as JSON", "falc tasks workers --json"]],
  });
  async run() {
    const ws = await (await this.queue()).listWorkers();
    if (this.json) return this.outJson(ws);
    if (!ws.length) return this.out("no live workers");
    this.out(
      table(
        ["NAME", "KIND", "HOST", "PID", "STAGE", "STATE", "TASK", "SINCE", "RESTARTS"],
        ws.map((w) => [w.name, w.kind, w.host, w.pid, w.stage, w.state, w.taskId, ago(w.since), w.restarts]),
      ),
    );
  }
}
