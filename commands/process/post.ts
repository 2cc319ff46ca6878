import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";
import { EXIT, usageError } from "../../src/core/errors.ts";

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
    const { attachBehaviour, collectedFiles } = await import("../../src/process/attach.ts");
    const { makeTaskId, splitAnalysisId } = await import("../../src/process/ids.ts");
    const { postLocally, submitPost, waitForAnalysis } = await import("../../src/process/submit.ts");
    const { readAnalysis } = await import("../../src/process/storage.ts");
    const { formatSummary, summarize } = await import("../../src/process/summary.ts");
    const failScore = parseIntOption("--fail-score", this.failScore, { min: 0, max: 10 });
    const top = parseIntOption("--top", this.top, { min: 0, max: 10_000 }) ?? 10;
    if (this.submit && this.pluginDir.length) throw usageError("--plugin-dir applies to work done here; queued work uses the workers' plugins");
    splitAnalysisId(this.id);
    const home = this.config.home;
    const analysis = readAnalysis(home, this.id);
    const n = parseIntOption("--task", this.task, { min: 1, max: 9999 });
    if (!analysis.tasks.length) throw usageError(`analysis ${this.id} has no tasks (it is ${analysis.state}); pre creates them`);
    if (n === undefined && analysis.tasks.length > 1)
      throw usageError(`analysis ${this.id} has ${analysis.tasks.length} tasks; pick one with --task N: ${analysis.tasks.map((t) => `${t.id.slice(t.id.lastIndexOf("_") + 1)} (${t.platform}${t.os_version ? ` ${t.os_version}` : ""})`).join(", ")}`);
    const taskId = n !== undefined ? makeTaskId(this.id, n) : analysis.tasks[0]!.id;
    if (!analysis.tasks.some((t) => t.id === taskId)) throw usageError(`analysis ${this.id} has no task ${n}; it has ${analysis.tasks.map((t) => t.id).join(", ")}`);

    await attachBehaviour(home, taskId, collectedFiles(this.taskDir));
    if (this.submit) {
      const queueId = await submitPost(await this.queue(), taskId, analysis.settings.priority);
      if (!this.wait) {
        if (this.json) this.outJson({ analysis_id: this.id, task_id: taskId, queue_task_id: queueId });
        else this.out(taskId);
        return EXIT.ok;
      }
      await waitForAnalysis({ home, queue: await this.queue() }, this.id, { taskId, queueId });
    } else {
      await postLocally({ home, config: this.config, log: this.log, pluginDirs: this.pluginDir }, taskId);
    }

    const s = summarize(home, this.id);
    const task = s.tasks.find((t) => t.id === taskId)!;
    if (this.json) this.outJson({ ...s, task_id: taskId });
    else this.out(formatSummary(s, { top }));
    const warn = (line: string) => this.context.stderr.write(`falc: ${line}\n`);
    if (task.state === "fatal_error") {
      warn(`post of ${taskId} failed: ${task.errors.fatal[0]?.error ?? "fatal error"}`);
      return EXIT.failed;
    }
    if (failScore !== undefined && task.score > failScore) {
      warn(`task ${taskId} scored ${task.score}, over --fail-score ${failScore}`);
      return EXIT.failed;
    }
    return EXIT.ok;
  }
}
