import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { parseIntOption } from "../src/cli/options.ts";
import { usageError } from "../src/core/errors.ts";

export class ProcessCommand extends FalcCommand {
  static paths = [["process"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Analyse a file or URL the Cuckoo3 way: identification, pre (static), post (behaviour), reports",
    details: `
      Stores each file content-addressed, makes a Cuckoo3-compatible analysis directory under
      FALC_HOME/storage/analyses/YYYYMMDD/XXXXXX/ (analysis.json, identification.json, pre.json,
      report.html, one task_<n>/ per platform waiting for \`falc process post\`) and runs identification
      and pre here. Archives (zip, 7z, rar, tar, ...) and mail (.eml, .msg) are opened and the target
      chosen inside. With --submit the analysis is queued for \`falc worker --stage identification,pre\`
      and its id printed (--wait: wait and print the summary). Plugins: the built-ins, --plugin-dir,
      process.plugin_dirs, FALC_PLUGIN_DIR. Exit 0 ok, 1 failed or over --fail-score, 2 usage.
    `,
    examples: [
      ["Analyse a file and print a summary", "falc process ./sample.exe"],
      ["Fail a CI step on a score of 8 or more", "falc process ./build/app --fail-score 7 --json"],
      ["A zip with a password, for Windows 10", "falc process ./mail.zip --password infected --platform windows:10"],
      ["With your own plugins", "falc process ./sample.bin --plugin-dir ./my-plugins"],
      ["Queue for workers and wait for them", "falc process ./sample.exe --submit --wait"],
      ["Show an analysis", "falc process show 20261122-ABC123"],
    ],
  });
  targets = Option.Rest({ required: 1, name: "file|url" });
  failScore = Option.String("--fail-score", { description: "Exit 1 when the score is above this (0-10)" });
  wait = Option.Boolean("--wait", false, { description: "With --submit: wait for the workers and print the summary (implied without --submit)" });
  submit = Option.Boolean("--submit", false, { description: "Queue for `falc worker --stage identification,pre` instead of running here" });
  pluginDir = Option.Array("--plugin-dir", [], { description: "Also load the plugin modules in this directory (repeatable)" });
  platform = Option.Array("--platform", [], { description: "Run on this platform (name or name:version, repeatable) instead of the identified ones" });
  password = Option.String("--password", { description: "Password of the submitted archive" });
  priority = Option.String("--priority", { description: "Priority of the analysis and its queue tasks (1 and up, default 1)" });
  top = Option.String("--top", { description: "Signatures listed in the summary (default 10)" });
  // A lane of a larger `falc process FILE...` run (src/process/lanes.ts): summaries as a JSON array, no lanes of its own.
  lane = Option.Boolean("--lane", false, { hidden: true });

  async run() {
    const { parsePlatforms } = await import("../src/process/cli.ts");
    const { runProcess } = await import("../src/process/process-run.ts");
    const { laneArgs, lanePassword, processOutput } = await import("../src/process/process-output.ts");
    const failScore = parseIntOption("--fail-score", this.failScore, { min: 0, max: 10 });
    const top = parseIntOption("--top", this.top, { min: 0, max: 10_000 }) ?? 10;
    const priority = parseIntOption("--priority", this.priority, { min: 1, max: 1000 });
    if (this.submit && this.pluginDir.length) throw usageError("--plugin-dir applies to work done here; queued work uses the workers' plugins (process.plugin_dirs or FALC_PLUGIN_DIR)");
    const password = lanePassword(this.password, this.lane);
    const settings = { platforms: parsePlatforms(this.platform), ...(password !== undefined ? { password } : {}), ...(priority !== undefined ? { priority } : {}) };
    const warn = (line: string) => this.context.stderr.write(`falc: ${line}\n`);
    const tty = Boolean(process.stderr.isTTY) && this.targets.length > 1 && !this.lane;
    const lane = laneArgs({ configPath: this.configPath, logLevel: this.logLevel, pluginDirs: this.pluginDir, platforms: this.platform, priority: this.priority });
    const out = await runProcess(
      { targets: this.targets, settings, submit: this.submit, wait: this.wait, pluginDirs: this.pluginDir, lane: this.lane, laneArgs: lane },
      { config: this.config, log: this.log, queue: () => this.queue(), warn, progress: tty ? (i, t, n) => this.context.stderr.write(i === null ? "\r\x1b[K" : `\r\x1b[K${i + 1}/${n}  ${t.slice(-60)}`) : undefined },
    );
    const p = processOutput(out, { json: this.json || this.lane, lane: this.lane, inputs: this.targets.length, failScore, top }, warn);
    if (p.json !== undefined) this.outJson(p.json);
    else if (p.text !== undefined) this.out(p.text);
    return p.code;
  }
}
