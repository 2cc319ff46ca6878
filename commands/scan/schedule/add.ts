import { Command, Option } from "clipanion";
import { FalcCommand } from "../../../src/cli/base.ts";
import { parseIntOption } from "../../../src/cli/options.ts";

export class ScanScheduleAddCommand extends FalcCommand {
  static paths = [["scan", "schedule", "add"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Scan a target set every N minutes, hours or days",
    details: `
      The scheduler runs inside \`falc worker\` (one leader among all workers on the queue) and
      queues one scan task per target when it is due: never for a target whose previous task is
      still active or finished within the interval, and never more than --max-concurrent at once.
    `,
    examples: [
      ["Every 6 hours, fast profile", "falc scan schedule add 10.0.0.0/24 --every 6h --profile fast"],
      ["Daily into a project, at most 4 at once", "falc scan schedule add --targets-file hosts.txt --every 1d --project acme --max-concurrent 4"],
    ],
  });
  targets = Option.Rest();
  targetsFile = Option.String("--targets-file", { description: "Read targets from a file" });
  every = Option.String("--every", { required: true, description: "Interval: 30m, 6h, 1d" });
  profile = Option.String("--profile", "default", { description: "Scan profile (built-in name or YAML file, stored at add time)" });
  project = Option.String("--project", "default", { description: "Ledger project" });
  mode = Option.String("--mode", { description: "Import mode (default scan.mode)" });
  maxConcurrent = Option.String("--max-concurrent", { description: "Most scan tasks of this schedule active at once (default 8)" });
  id = Option.String("--id", { description: "Schedule id (default a random one)" });

  async run() {
    const { addSchedule } = await import("../../../src/scan/schedule/add.ts");
    const s = await addSchedule(this.config, await this.queue(), {
      targets: this.targets, targetsFile: this.targetsFile, every: this.every, profile: this.profile, project: this.project, mode: this.mode, id: this.id,
      maxConcurrent: parseIntOption("--max-concurrent", this.maxConcurrent, { min: 1, max: 10_000 }),
      warn: (line) => this.context.stderr.write(`falc: warning: ${line}\n`),
    });
    if (this.json) this.outJson(s);
    else this.out(s.id);
  }
}
