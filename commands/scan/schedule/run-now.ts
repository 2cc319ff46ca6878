import { Command, Option } from "clipanion";
import { FalcCommand } from "../../../src/cli/base.ts";

export class ScanScheduleRunNowCommand extends FalcCommand {
  static paths = [["scan", "schedule", "run-now"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Queue a schedule's scans now, ignoring its interval (targets still running are skipped)",
    examples: [["Run one now", "falc scan schedule run-now sch-abc123"], ["And print the tasks", "falc scan schedule run-now sch-abc123 --json"]],
  });
  id = Option.String({ required: true });
  async run() {
    const { runSchedule } = await import("../../../src/scan/schedule/scheduler.ts");
    const { ScheduleStore } = await import("../../../src/scan/schedule/store.ts");
    const queue = await this.queue();
    const store = await ScheduleStore.forQueue(queue, this.config.home);
    const r = await runSchedule(queue, store, await store.get(this.id), this.config, { force: true });
    if (this.json) this.outJson(r);
    else {
      for (const e of r.enqueued) this.out(`${e.taskId}  ${e.ip}`);
      if (r.skipped.length) this.context.stderr.write(`falc: skipped ${r.skipped.length} (${[...new Set(r.skipped.map((s) => s.why))].join(", ")})\n`);
    }
  }
}
