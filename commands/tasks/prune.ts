import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";

export class TasksPruneCommand extends FalcCommand {
  static paths = [["tasks", "prune"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "Delete ended tasks now: by age, by count, or as `retention:` in falc.yaml says",
    details: "Only finished, failed and cancelled tasks are deleted, never queued or running ones. `failed` covers failed and cancelled tasks. Workers apply `retention:` continuously; this runs it at once.",
    examples: [
      ["Apply the configured retention now", "falc tasks prune"],
      ["Finished tasks older than 7 days", "falc tasks prune --older-than 7d --status finished"],
      ["Failed and cancelled scan tasks older than 12 hours", "falc tasks prune --stage scan --status failed --older-than 12h"],
      ["Keep only the newest 1000 finished tasks per stage, as JSON", "falc tasks prune --keep 1000 --json"],
    ],
  });
  olderThan = Option.String("--older-than", { description: "Delete what ended longer ago than this: 30m, 12h, 7d, 2w" });
  status = Option.String("--status", { description: "finished, failed (with cancelled), or both comma-separated (default finished)" });
  stage = Option.String("--stage", { description: "Only this stage" });
  keep = Option.String("--keep", { description: "Keep at most this many per stage and status (the newest)" });

  async run() {
    const { retentionFrom } = await import("../../src/queue/retention-rules.ts");
    const { pruneNow, pruneRequestSteps } = await import("../../src/queue/prune-now.ts");
    const retention = retentionFrom(this.config.retention, this.config.source ?? "config");
    const req = {
      olderThan: this.olderThan,
      statuses: this.status?.split(",").map((s) => s.trim()),
      stage: this.stage,
      keep: parseIntOption("--keep", this.keep, { min: 0, max: 1_000_000_000 }),
    };
    const q = await this.queue();
    const steps = pruneRequestSteps(req, Object.keys(await q.stats()), retention, Date.now());
    const report = await pruneNow(q, steps);
    if (this.json) return this.outJson(report);
    const per = Object.entries(report.byStage).flatMap(([s, b]) => Object.entries(b).filter(([, n]) => n).map(([k, n]) => `${s} ${k}: ${n}`));
    this.out(`${report.deleted} ended task${report.deleted === 1 ? "" : "s"} deleted${per.length ? ` (${per.join(", ")})` : ""}`);
  }
}
