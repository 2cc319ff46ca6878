import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { TASK_STATUSES, type TaskStatus } from "../../src/core/task.ts";
import { usageError } from "../../src/core/errors.ts";
import { parseIntOption } from "../../src/cli/options.ts";

export class TasksListCommand extends FalcCommand {
  static paths = [["tasks", "list"], ["tasks"]];
  static usage = Command.Usage({
    category: "Tasks",
    description: "List tasks, newest first",
    examples: [
      ["Failed scan tasks", "falc tasks list --stage scan --status failed"],
      ["As JSON for a script", "falc tasks list --json --limit 1000"],
      ["Tasks whose id starts with t0mk3, among every kept task", "falc tasks list --search t0mk3"],
      ["Page by page: the JSON carries the next page's cursor", "falc tasks list --json --page --limit 100 --after <next>"],
    ],
  });
  stage = Option.String("--stage");
  status = Option.String("--status", { description: `One or more of ${TASK_STATUSES.join(",")} (comma-separated)` });
  limit = Option.String("--limit", { description: "At most this many (default 50)" });
  search = Option.String("--search", { description: "Only tasks whose id starts with this text, or running tasks whose worker's name contains it (listed by id)" });
  after = Option.String("--after", { description: "Start after this cursor (the `next` of the previous page)" });
  page = Option.Boolean("--page", false, { description: "With --json: print {tasks, next} instead of the bare list" });

  async run() {
    const { tasksTable } = await import("../../src/tasks/format.ts");
    let statuses: TaskStatus[] | undefined;
    if (this.status) {
      statuses = this.status.split(",").map((s) => s.trim()) as TaskStatus[];
      const bad = statuses.find((s) => !TASK_STATUSES.includes(s));
      if (bad) throw usageError(`unknown status \`${bad}\`; use one of ${TASK_STATUSES.join(", ")}`);
    }
    const q = await this.queue();
    const limit = parseIntOption("--limit", this.limit, { min: 1, max: 1_000_000 }) ?? 50;
    const { tasks, next } = await q.page({ stage: this.stage, status: statuses, limit, text: this.search, after: this.after });
    if (this.json) this.outJson(this.page ? { tasks, next } : tasks);
    else this.out(tasksTable(tasks) + (next ? `\nmore: falc tasks list ${this.again()}--after ${next}` : ""));
  }

  /** The next page's command line keeps this one's filters. */
  private again(): string {
    const q = (s: string) => (/^[\w.,:@%+=/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
    const f: [string, string | undefined][] = [["--stage", this.stage], ["--status", this.status], ["--limit", this.limit], ["--search", this.search]];
    return f.map(([k, v]) => (v === undefined ? "" : `${k} ${q(v)} `)).join("");
  }
}
