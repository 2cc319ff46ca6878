import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { runFalc, tempHome } from "./helpers.ts";

// The README's `falc tasks` examples (Workers and tasks), run as printed against dist/falc, in order:
// `<id>` is the id the first line printed and the word after `--search` its first five characters (search is by id prefix). Each must exit 0 and do what its
// comment says.
const T = tempHome("falc-e2e-readme-tasks-");
afterAll(() => T.cleanup());

/** The example lines of the ```sh block under "## Workers and tasks": argv and the comment. */
function examples(): { argv: string[]; note: string }[] {
  const readme = readFileSync(resolve(import.meta.dir, "../../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Workers and tasks"), readme.indexOf("## Configuration"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .split("\n")
    .filter((l) => l.startsWith("falc tasks "))
    .map((l) => {
      const hash = l.indexOf("  #");
      const cmd = (hash < 0 ? l : l.slice(0, hash)).trim();
      // Plain words and '…' quoted ones: the block uses nothing else.
      const argv = [...cmd.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!).slice(1);
      return { argv, note: hash < 0 ? "" : l.slice(hash + 3).trim() };
    });
}

test("every `falc tasks` example in the README runs as printed and does what its comment says", async () => {
  const env = { FALC_HOME: T.home };
  const ex = examples();
  expect(ex.map((e) => e.argv.slice(0, 2).join(" "))).toEqual([
    "tasks submit", "tasks list", "tasks list", "tasks cancel", "tasks retry", "tasks show", "tasks stats", "tasks workers", "tasks prune",
  ]);
  let id = "";
  const out: Record<string, string> = {};
  for (const e of ex) {
    const argv = e.argv.map((a, i) => (a === "<id>" ? id : e.argv[i - 1] === "--search" ? id.slice(0, 5) : a));
    const r = await runFalc(argv, { env });
    expect([argv.join(" "), r.code, r.stderr]).toEqual([argv.join(" "), 0, ""]);
    out[argv.slice(0, 3).join(" ")] = r.stdout;
    if (argv[1] === "submit") {
      expect(e.note).toBe("prints the task id");
      id = r.stdout.trim();
      expect(id).toMatch(/^\w{8,}$/);
    }
  }
  expect(JSON.parse(out["tasks list --status"]!)).toEqual([]); // no failed task
  expect(out["tasks list --search"]).toContain(id);
  expect(out[`tasks cancel ${id}`]).toContain("cancelled");
  expect(out[`tasks retry ${id}`]).toContain("queued");
  // fields, then the timeline (time, event, state, worker, attempt, error): created, queued, cancelled, queued again
  const show = out[`tasks show ${id}`]!;
  expect(show).toMatch(/^priority:\s+5$/m);
  expect(show).toMatch(/^TIME\s+EVENT\s+STATE\s+WORKER\s+ATTEMPT\s+ERROR/m);
  expect([...show.matchAll(/^\S+Z\s+(\w+)\s/gm)].map((m) => m[1])).toEqual(["created", "queued", "cancelled", "queued"]);
  expect(out["tasks stats"]).toMatch(/^noop\s+0\s+1\s+0\s+0\s+0\s+0\s+0$/m); // counts per stage and status
  expect(out["tasks workers"]).toContain("no live workers");
  expect(out["tasks prune --older-than"]).toMatch(/^0 ended tasks deleted/); // the queued one is never deleted
});
