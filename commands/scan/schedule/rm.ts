import { Command, Option } from "clipanion";
import { FalcCommand } from "../../../src/cli/base.ts";

export class ScanScheduleRmCommand extends FalcCommand {
  static paths = [["scan", "schedule", "rm"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Remove a scan schedule (queued tasks stay; cancel them with falc tasks cancel)",
    examples: [["Remove one", "falc scan schedule rm sch-abc123"]],
  });
  id = Option.String({ required: true });
  async run() {
    const { ScheduleStore } = await import("../../../src/scan/schedule/store.ts");
    const store = await ScheduleStore.forQueue(await this.queue(), this.config.home);
    await store.remove(this.id);
    if (this.json) this.outJson({ removed: this.id });
    else this.out(`removed ${this.id}`);
  }
}
