import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { parseIntOption } from "../src/cli/options.ts";
import { EXIT, usageError } from "../src/core/errors.ts";

export class ProcessCommand extends FalcCommand {
  static paths = [["process"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Analyse a file or URL the Cuckoo3 way: identification, pre (static), post (behaviour), reports",
    details: `
      Stores each file content-addressed, makes a Cuckoo3-compatible analysis directory under
      FALC_HOME/storage/analyses/YYYYMMDD/XXXXXX/ and runs identification and pre here, without
      workers (so --wait is implied). Prints the type, hashes, score and top signatures; the
      directory holds analysis.json, identification.json, pre.json, report.html and one task_<n>/
      per platform, waiting for behaviour (\`falc process post\`).

      With --submit the analysis is queued for \`falc worker --stage identification,pre\` instead and
      the id printed at once; add --wait to wait for the workers and print the summary.
      Plugins: the built-ins, plus each module in --plugin-dir, process.plugin_dirs and
      FALC_PLUGIN_DIR. Exit 0 ok, 1 when an analysis failed or its score is over --fail-score, 2 usage.
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
    const { parsePlatforms, scoreExit } = await import("../src/process/cli.ts");
    const { runProcess } = await import("../src/process/process-run.ts");
    const { formatSummary } = await import("../src/process/summary.ts");
    const failScore = parseIntOption("--fail-score", this.failScore, { min: 0, max: 10 });
    const top = parseIntOption("--top", this.top, { min: 0, max: 10_000 }) ?? 10;
    const priority = parseIntOption("--priority", this.priority, { min: 1, max: 1000 });
    if (this.submit && this.pluginDir.length) throw usageError("--plugin-dir applies to work done here; queued work uses the workers' plugins (process.plugin_dirs or FALC_PLUGIN_DIR)");
    // A lane child gets the archive password in its environment, never in argv (ps shows argv to every user).
    const password = this.password ?? (this.lane ? process.env.FALC_LANE_PASSWORD : undefined);
    if (this.password !== undefined) process.env.FALC_LANE_PASSWORD = this.password;
    const settings = { platforms: parsePlatforms(this.platform), ...(password !== undefined ? { password } : {}), ...(priority !== undefined ? { priority } : {}) };
    const warn = (line: string) => this.context.stderr.write(`falc: ${line}\n`);
    const tty = Boolean(process.stderr.isTTY) && this.targets.length > 1 && !this.lane;
    const out = await runProcess(
      { targets: this.targets, settings, submit: this.submit, wait: this.wait, pluginDirs: this.pluginDir, lane: this.lane, laneArgs: this.laneArgs() },
      { config: this.config, log: this.log, queue: () => this.queue(), warn, progress: tty ? (i, t, n) => this.context.stderr.write(i === null ? "\r\x1b[K" : `\r\x1b[K${i + 1}/${n}  ${t.slice(-60)}`) : undefined },
    );
    const refused = out.rejected.length ? EXIT.failed : EXIT.ok;
    if (out.kind === "queued") {
      if (this.json) this.outJson(out.ids.length === 1 ? { analysis_id: out.ids[0] } : out.ids.map((analysis_id) => ({ analysis_id })));
      else for (const id of out.ids) this.out(id);
      return refused;
    }
    // A lane's parent prints, and judges scores and failures for all lanes.
    if (this.lane) return this.outJson(out.summaries), EXIT.ok;
    // Refused inputs keep their place in --json's array, as {input, error}.
    const all: unknown[] = [...out.summaries];
    for (const r of out.rejected) all.splice(r.index, 0, { input: r.input, error: r.error });
    if (this.json) this.outJson(all.length === 1 ? all[0] : all);
    else this.out(out.summaries.map((s) => formatSummary(s, { top })).join("\n\n"));
    const code = scoreExit(out.summaries, failScore, warn);
    if (out.rejected.length) warn(`${out.rejected.length} of ${this.targets.length} input(s) refused`);
    return Math.max(code, refused);
  }

  /** What a lane child needs to do the same work as this process. */
  private laneArgs(): string[] {
    const a: string[] = [];
    if (this.configPath) a.push("--config", this.configPath);
    if (this.logLevel) a.push("--log-level", this.logLevel);
    for (const d of this.pluginDir) a.push("--plugin-dir", d);
    for (const p of this.platform) a.push("--platform", p);
    if (this.priority !== undefined) a.push("--priority", this.priority);
    return a;
  }
}
