import { expect, test } from "bun:test";
import { commands } from "../commands/index.ts";
import { commandsFor } from "./main.ts";

const paths = (cs: ReturnType<typeof commandsFor>) => cs.flatMap((c) => (c.paths ?? []).map((p) => p.join(" "))).sort();

test("only the family named by the first word (and the commands its second word names) is registered; anything else gets every command", () => {
  expect(paths(commandsFor(["sync", "--once"]))).toEqual(["sync groups list", "sync groups set", "sync keygen", "sync master", "sync status", "sync worker"]);
  expect(paths(commandsFor(["sync", "worker", "--once"]))).toEqual(["sync worker"]);
  // `scan schedule` alone must still meet the schedule commands (clipanion then says "did you mean").
  expect(paths(commandsFor(["--json", "scan", "schedule"]))).toContain("scan schedule add");
  expect(paths(commandsFor(["scan", "schedule"]))).not.toContain("worker");
  expect(commandsFor(["--version"])).toEqual([]);
  // A second word that names commands narrows to them and the family's root command; another keeps the family.
  expect(paths(commandsFor(["tasks", "list", "--json"]))).toEqual(["tasks", "tasks list"]);
  expect(paths(commandsFor(["scan", "schedule", "ad"]))).toEqual(["scan", "scan schedule add", "scan schedule list", "scan schedule rm", "scan schedule run-now"]);
  expect(paths(commandsFor(["scan", "10.0.0.1"]))).toContain("scan results");
  for (const args of [[], ["--help"], ["syn", "worker"], ["--config", "x.yaml", "tasks", "stats"]]) expect(commandsFor(args)).toEqual(commands);
});

test("every command has a path with a first word, so each belongs to a family", () => {
  for (const c of commands) for (const p of c.paths ?? [[]]) expect(p[0]).toMatch(/^[a-z]/);
});
