import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { usageError } from "../../src/core/errors.ts";
import { parseIntOption } from "../../src/cli/options.ts";

export class TasksSubmitCommand extends FalcCommand {
  static paths = [["tasks", "submit"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "Queue a task for a stage's workers",
    details: "The payload is checked against the stage's schema before it is queued.",
    examples: [
      ["Queue a no-op task", "falc tasks submit noop --payload '{\"n\":1}'"],
      ["Payload from a file, high priority, run in 10 minutes", "falc tasks submit scan --payload @scan.json --priority 10 --delay 600"],
      ["Ten copies at once", "falc tasks submit noop --payload 1 --count 10 --json"],
    ],
  });
  stage = Option.String({ required: true });
  payload = Option.String("--payload", { description: "JSON text, or @file, or @- for stdin" });
  priority = Option.String("--priority", { description: "Higher runs first (default 0)" });
  delay = Option.String("--delay", { description: "Seconds to wait before the task may run" });
  timeout = Option.String("--timeout", { description: "Seconds the task may run before its worker is killed" });
  maxAttempts = Option.String("--max-attempts", { description: "Attempts before the task fails for good" });
  count = Option.String("--count", { description: "Submit this many copies (batch)" });
  stagePath = Option.Array("--stage-path", { description: "Load a stage module from this file" });

  async run() {
    const { StageRegistry } = await import("../../src/stages/registry.ts");
    const { readPayloadArg, validatePayload } = await import("../../src/tasks/payload.ts");
    const registry = new StageRegistry();
    await registry.addPaths([...this.config.stage_paths, ...(this.stagePath ?? [])]);
    const stage = await registry.get(this.stage);
    const payload = validatePayload(stage, readPayloadArg(this.payload));
    const count = parseIntOption("--count", this.count, { min: 1, max: 1_000_000 }) ?? 1;
    const input = {
      stage: this.stage,
      payload,
      priority: parseIntOption("--priority", this.priority, { min: -1000, max: 1000 }),
      delayMs: (parseIntOption("--delay", this.delay, { min: 0, max: 365 * 86400 }) ?? 0) * 1000,
      timeoutS: parseIntOption("--timeout", this.timeout, { min: 1, max: 7 * 86400 }),
      maxAttempts: parseIntOption("--max-attempts", this.maxAttempts, { min: 1, max: 100 }),
    };
    if (!this.payload && !stage.payloadSchema.safeParse(null).success) throw usageError(`stage \`${this.stage}\` needs --payload`);
    const q = await this.queue();
    const tasks = await q.enqueueMany(Array.from({ length: count }, () => input));
    if (this.json) this.outJson(count === 1 ? tasks[0] : tasks);
    else for (const t of tasks) this.out(t.id);
  }
}
