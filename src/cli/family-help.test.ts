import { expect, test } from "bun:test";
import { commands } from "../../commands/index.ts";
import { buildCli } from "../main.ts";
import { familyHelp, familyOf } from "./family-help.ts";

test("a family is a first word, or words more than one path continues; a single command keeps clipanion's help", () => {
  expect(familyOf(["sync", "--help"], commands)).toEqual(["sync"]);
  expect(familyOf(["tasks", "-h"], commands)).toEqual(["tasks"]);
  expect(familyOf(["worker", "--help"], commands)).toEqual(["worker"]);
  expect(familyOf(["scan", "schedule", "--help"], commands)).toEqual(["scan", "schedule"]);
  expect(familyOf(["sync", "groups", "--help"], commands)).toEqual(["sync", "groups"]);
  for (const args of [["sync", "master", "--help"], ["scan", "schedule", "add", "--help"], ["bogus", "--help"], ["--help"], ["sync"], ["tasks", "list", "--json"], ["--json", "sync", "--help"]]) {
    expect(familyOf(args, commands)).toBeNull();
  }
});

test("the family's help: the family command's own help first, then one line per command with its aliases", () => {
  const tasks = familyHelp(buildCli(["tasks"]), ["tasks"], commands);
  expect(tasks).toMatch(/^Commands in `falc tasks`\n\n/);
  expect(tasks).toMatch(/^ {2}falc tasks list +List tasks, newest first \(also `falc tasks`\)$/m);
  expect(tasks.split("\n").filter((l) => l.startsWith("  falc tasks "))).toHaveLength(8);
  const scan = familyHelp(buildCli(["scan"]), ["scan"], commands);
  expect(scan.indexOf("Examples")).toBeGreaterThan(-1);
  expect(scan.indexOf("Examples")).toBeLessThan(scan.indexOf("Commands in `falc scan`"));
  expect(scan).toMatch(/^ {2}falc scan schedule run-now {2,}\S/m);
});
