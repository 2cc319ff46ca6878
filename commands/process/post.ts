import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";
import { EXIT } from "../../src/core/errors.ts";

export class ProcessPostCommand extends FalcCommand {
  static paths = [["process", "post"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Attach a task's collected behaviour (events, pcap) and run post processing on it",
    details: `
      DIR holds what a sandbox run collected: \`events/*.json\` (or \`*.json\` at its top), JSON lines
      with one behaviour event object per line, and \`dump.pcap\` when there was traffic. They are
      checked, copied into the analysis's task_<n>/ (replacing an earlier attach) and post runs here:
      behaviour and network summaries, signatures, task_<n>/report.json and report.html.
      --task picks the task when the analysis has more than one platform. With --submit, post is
      queued for \`falc worker --stage post\` (add --wait to wait for it).
      Exit 1 when post failed or the task's score is over --fail-score.
    `,
    examples: [
      ["Post-process what a sandbox collected", "falc process post 20261125-A1B2C3 --task-dir ./collected"],
      ["The second task (second platform), JSON out", "falc process post 20261125-A1B2C3 --task 2 --task-dir ./run2 --json"],
      ["Queue it for a post worker", "falc process post 20261125-A1B2C3 --task-dir ./collected --submit --wait"],
    ],
  });
  id = Option.String({ required: true, name: "analysis-id" });
  taskDir = Option.String("--task-dir", { required: true, description: "Directory with events/*.json and dump.pcap" });
  task = Option.String("--task", { description: "Task number (default: the only task)" });
  failScore = Option.String("--fail-score", { description: "Exit 1 when the task's score is above this (0-10)" });
  submit = Option.Boolean("--submit", false, { description: "Queue post for `falc worker --stage post` instead of running it here" });
  wait = Option.Boolean("--wait", false, { description: "With --submit: wait for the worker and print the result" });
  pluginDir = Option.Array("--plugin-dir", [], { description: "Also load the plugin modules in this directory (repeatable)" });
  top = Option.String("--top", { description: "Signatures listed (default 10)" });

  async run() {
    const { runPostCommand } = await import("../../src/process/post-run.ts");
    const { formatSummary } = await import("../../src/process/summary.ts");
    const failScore = parseIntOption("--fail-score", this.failScore, { min: 0, max: 10 });
    const top = parseIntOption("--top", this.top, { min: 0, max: 10_000 }) ?? 10;
    const task = parseIntOption("--task", this.task, { min: 1, max: 9999 });
    const warn = (line: string) => this.context.stderr.write(`falc: ${line}\n`);
    const req = { analysisId: this.id, taskDir: this.taskDir, task, submit: this.submit, wait: this.wait, pluginDirs: this.pluginDir, failScore };
    const r = await runPostCommand(req, { config: this.config, log: this.log, queue: () => this.queue(), warn });
    if (r.kind === "queued") {
      if (this.json) this.outJson({ analysis_id: this.id, task_id: r.taskId, queue_task_id: r.queueId });
      else this.out(r.taskId);
      return EXIT.ok;
    }
    if (this.json) this.outJson({ ...r.summary, task_id: r.taskId });
    else this.out(formatSummary(r.summary, { top }));
    return r.code;
  }
}
