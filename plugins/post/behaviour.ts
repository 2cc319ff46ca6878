/**
 * post: behaviour summary of a task from task_<n>/events/*.json (JSON lines, schema in
 * src/process/analyze/events.ts): processes (list and tree), files, registry, network, mutexes.
 * Lines that are not valid events are counted and reported as non-fatal errors.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { behaviourOf } from "../../src/process/analyze/behaviour.ts";
import type { PluginApi, Processor } from "../../src/process/plugin.ts";

export default (api: PluginApi): Processor => ({
  kind: "processor",
  NAME: "behaviour",
  ORDER: 10,
  KEY: "behaviour",
  STAGE: "post",
  CATEGORY: ["file", "url"],
  start(ctx) {
    if (!ctx.taskDir) throw new api.DisablePlugin("no task directory");
    if (!existsSync(join(ctx.taskDir, "events"))) return undefined;
    const b = behaviourOf(ctx.taskDir);
    if (b.stats.bad_lines) {
      const first = b.bad_lines[0];
      ctx.errors.add(`behaviour: ${b.stats.bad_lines} invalid event line(s) skipped${first ? ` (first: events/${first.file}:${first.line}: ${first.error})` : ""}`);
    }
    if (b.stats.truncated) ctx.errors.add("behaviour: lists were cut at their limits");
    return b;
  },
});
