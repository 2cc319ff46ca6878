import { Command } from "clipanion";
import { FalcCommand } from "../../../src/cli/base.ts";
import { ago, table } from "../../../src/cli/table.ts";

export class ScanScheduleListCommand extends FalcCommand {
  static paths = [["scan", "schedule", "list"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "List scan schedules",
    examples: [["All schedules", "falc scan schedule list"], ["As JSON", "falc scan schedule list --json"]],
  });
  async run() {
    const { formatEvery, ScheduleStore } = await import("../../../src/scan/schedule/store.ts");
    const store = await ScheduleStore.forQueue(await this.queue(), this.config.home);
    const all = await store.list();
    if (this.json) return void this.outJson(all);
    if (!all.length) return void this.out("no schedules");
    this.out(table(["ID", "EVERY", "TARGETS", "PROFILE", "PROJECT", "MAX", "LAST RUN"], all.map((s) => [
      s.id, formatEvery(s.everyS), s.targets.join(" ").slice(0, 40), typeof s.profile === "string" ? s.profile : (s.profile.name ?? "custom"), s.project, s.maxConcurrent, ago(s.lastRunAt),
    ])));
  }
}
