import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";
import { ago, table } from "../../src/cli/table.ts";
import { usageError } from "../../src/core/errors.ts";
import type { ImportMode } from "../../src/scan/ledger.ts";

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
    const { scanConfig, scopeOf } = await import("../../src/scan/config.ts");
    const { IMPORT_MODES } = await import("../../src/scan/ledger.ts");
    const { BUILTIN_PROFILES, loadProfile } = await import("../../src/scan/profile.ts");
    const { parseEvery, ScheduleStore } = await import("../../src/scan/schedule/store.ts");
    const { expandTargets, parseSpec, readTargetsFile } = await import("../../src/scan/targets.ts");
    const everyS = parseEvery(this.every);
    const specs = [...this.targets, ...(this.targetsFile ? readTargetsFile(this.targetsFile) : [])];
    if (!specs.length) throw usageError("no targets: give addresses, CIDRs, ranges or hostnames, or --targets-file");
    const cfg = scanConfig(this.config);
    // Check the targets and the profile now, so a bad schedule never gets stored.
    const literal = specs.filter((x) => parseSpec(x).kind !== "host");
    const set = await expandTargets(literal, { maxTargets: cfg.max_targets, scope: scopeOf(this.config) });
    for (const r of set.refused) if (r.reason === "out_of_scope") this.context.stderr.write(`falc: warning: ${r.ip} (out_of_scope): ${r.detail}\n`);
    const p = loadProfile(this.profile);
    const mode = (this.mode ?? cfg.mode) as ImportMode;
    if (!IMPORT_MODES.includes(mode)) throw usageError(`--mode must be one of ${IMPORT_MODES.join(", ")}`);
    const { name: _n, ...fields } = p;
    const store = ScheduleStore.open(this.config.home);
    try {
      const s = store.add({
        id: this.id,
        targets: specs,
        profile: BUILTIN_PROFILES.includes(this.profile) ? this.profile : { ...fields, name: p.name },
        project: this.project,
        mode,
        everyS,
        maxConcurrent: parseIntOption("--max-concurrent", this.maxConcurrent, { min: 1, max: 10_000 }) ?? 8,
      });
      if (this.json) this.outJson(s);
      else this.out(s.id);
    } finally {
      store.close();
    }
  }
}

export class ScanScheduleListCommand extends FalcCommand {
  static paths = [["scan", "schedule", "list"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "List scan schedules",
    examples: [["All schedules", "falc scan schedule list"], ["As JSON", "falc scan schedule list --json"]],
  });
  async run() {
    const { formatEvery, ScheduleStore } = await import("../../src/scan/schedule/store.ts");
    const store = ScheduleStore.open(this.config.home);
    try {
      const all = store.list();
      if (this.json) return void this.outJson(all);
      if (!all.length) return void this.out("no schedules");
      this.out(table(["ID", "EVERY", "TARGETS", "PROFILE", "PROJECT", "MAX", "LAST RUN"], all.map((s) => [
        s.id, formatEvery(s.everyS), s.targets.join(" ").slice(0, 40), typeof s.profile === "string" ? s.profile : (s.profile.name ?? "custom"), s.project, s.maxConcurrent, ago(s.lastRunAt),
      ])));
    } finally {
      store.close();
    }
  }
}

export class ScanScheduleRmCommand extends FalcCommand {
  static paths = [["scan", "schedule", "rm"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Remove a scan schedule (queued tasks stay; cancel them with falc tasks cancel)",
    examples: [["Remove one", "falc scan schedule rm sch-abc123"]],
  });
  id = Option.String({ required: true });
  async run() {
    const { ScheduleStore } = await import("../../src/scan/schedule/store.ts");
    const store = ScheduleStore.open(this.config.home);
    try {
      store.remove(this.id);
      if (this.json) this.outJson({ removed: this.id });
      else this.out(`removed ${this.id}`);
    } finally {
      store.close();
    }
  }
}

export class ScanScheduleRunNowCommand extends FalcCommand {
  static paths = [["scan", "schedule", "run-now"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Queue a schedule's scans now, ignoring its interval (targets still running are skipped)",
    examples: [["Run one now", "falc scan schedule run-now sch-abc123"], ["And print the tasks", "falc scan schedule run-now sch-abc123 --json"]],
  });
  id = Option.String({ required: true });
  async run() {
    const { runSchedule } = await import("../../src/scan/schedule/scheduler.ts");
    const { ScheduleStore } = await import("../../src/scan/schedule/store.ts");
    const store = ScheduleStore.open(this.config.home);
    try {
      const r = await runSchedule(await this.queue(), store, store.get(this.id), this.config, { force: true });
      if (this.json) this.outJson(r);
      else {
        for (const e of r.enqueued) this.out(`${e.taskId}  ${e.ip}`);
        if (r.skipped.length) this.context.stderr.write(`falc: skipped ${r.skipped.length} (${[...new Set(r.skipped.map((s) => s.why))].join(", ")})\n`);
      }
    } finally {
      store.close();
    }
  }
}
