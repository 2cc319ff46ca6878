import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { parseIntOption } from "../src/cli/options.ts";
import { EXIT, usageError } from "../src/core/errors.ts";
import type { AnalysisSummary } from "../src/process/summary.ts";

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
    const { checkSubmission } = await import("../src/process/storage.ts");
    const { processLocally, submissionOf, submitToQueue, waitForAnalysis } = await import("../src/process/submit.ts");
    const { formatSummary, summarize } = await import("../src/process/summary.ts");
    const { processInLanes } = await import("../src/process/lanes.ts");
    const { processConfig } = await import("../src/process/config.ts");
    const failScore = parseIntOption("--fail-score", this.failScore, { min: 0, max: 10 });
    const top = parseIntOption("--top", this.top, { min: 0, max: 10_000 }) ?? 10;
    const priority = parseIntOption("--priority", this.priority, { min: 1, max: 1000 });
    if (this.submit && this.pluginDir.length) throw usageError("--plugin-dir applies to work done here; queued work uses the workers' plugins (process.plugin_dirs or FALC_PLUGIN_DIR)");
    // A lane child gets the archive password in its environment, never in argv (ps shows argv to every user).
    const password = this.password ?? (this.lane ? process.env.FALC_LANE_PASSWORD : undefined);
    if (this.password !== undefined) process.env.FALC_LANE_PASSWORD = this.password;
    const settings = {
      platforms: parsePlatforms(this.platform),
      ...(password !== undefined ? { password } : {}),
      ...(priority !== undefined ? { priority } : {}),
    };
    const home = this.config.home;
    const subs = this.targets.map(submissionOf);
    // Every input checked before the first is stored: a typo in the tenth name costs nothing.
    for (const sub of subs) checkSubmission(sub);

    const tty = Boolean(process.stderr.isTTY) && subs.length > 1 && !this.lane;
    const progress = (i: number) => {
      if (tty) this.context.stderr.write(`\r\x1b[K${i + 1}/${subs.length}  ${this.targets[i]!.slice(-60)}`);
    };
    const ac = new AbortController();
    const onSig = () => ac.abort(new Error("interrupted"));
    process.once("SIGINT", onSig);
    let ids: string[] = [];
    let summaries: AnalysisSummary[] | undefined;
    try {
      if (this.submit) {
        ids = await submitToQueue({ home, config: this.config, queue: await this.queue() }, subs, settings, progress);
        if (this.wait) {
          for (const id of ids) await waitForAnalysis({ home, queue: await this.queue(), signal: ac.signal, onState: (s) => this.log.debug({ event: "analysis_state", analysis_id: id, state: s }, `${id} ${s}`) }, id);
        }
      } else {
        const local = { home, config: this.config, log: this.log, pluginDirs: this.pluginDir, signal: ac.signal };
        summaries = await processInLanes(
          {
            lanes: this.lane ? 1 : processConfig(this.config).local_processes,
            log: this.log,
            laneArgs: this.laneArgs(),
            here: async (idx, onEach) => (await processLocally(local, idx.map((i) => subs[i]!), settings, onEach)).map((r) => summarize(home, r.id, r.known)),
          },
          this.targets,
          subs,
          progress,
        );
      }
    } finally {
      process.off("SIGINT", onSig);
      if (tty) this.context.stderr.write("\r\x1b[K");
    }

    if (this.submit && !this.wait) {
      if (this.json) this.outJson(ids.length === 1 ? { analysis_id: ids[0] } : ids.map((analysis_id) => ({ analysis_id })));
      else for (const id of ids) this.out(id);
      return EXIT.ok;
    }
    summaries ??= ids.map((id) => summarize(home, id));
    if (this.lane) {
      // The parent prints, and judges scores and failures for all lanes.
      this.outJson(summaries);
      return EXIT.ok;
    }
    if (this.json) this.outJson(summaries.length === 1 ? summaries[0] : summaries);
    else this.out(summaries.map((s) => formatSummary(s, { top })).join("\n\n"));
    return scoreExit(summaries, failScore, (line) => this.context.stderr.write(`falc: ${line}\n`));
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
