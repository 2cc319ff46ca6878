// The README's quick start is a promise: run exactly its commands (after scripts/setup, which the
// test run has already done) and compare their output with the block the README shows.
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, skipUnless } from "../skip.ts";
import { FALC, tempHome } from "./helpers.ts";

const root = join(import.meta.dir, "../..");
const h = tempHome("falc-e2e-quickstart-");
afterAll(() => h.cleanup());

/** The quick start's `$ command` lines, each with the output lines shown under it. */
function quickStart(): { command: string; expected: string[] }[] {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Quick start"));
  const block = /```console\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README's quick start has no ```console block");
  const steps: { command: string; expected: string[] }[] = [];
  for (const line of block.trimEnd().split("\n")) {
    if (line.startsWith("$ ")) steps.push({ command: line.slice(2), expected: [] });
    else steps[steps.length - 1]!.expected.push(line);
  }
  return steps;
}

/**
 * What differs between runs, and only that: the analysis id and its date, FALC_HOME (the README
 * shows the default), the lab's third octet (from scripts/lab's pid), and column padding (the
 * tables widen with those).
 */
function normal(lines: string[], home: string): string[] {
  return lines.map((l) =>
    l
      .replaceAll(home, "~/.local/share/falc")
      .replace(/\d{8}-[0-9A-Z]{6}/g, "<id>")
      .replace(/\d{8}\/[0-9A-Z]{6}/g, "<id>")
      .replace(/10\.213\.\d+\./g, "10.213.<n>.")
      .replace(/ {2,}/g, "  ")
      .trimEnd(),
  );
}

async function run(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // Plain words, no quoting: the README's commands are meant to be typed as they are.
  const argv = command.split(/\s+/).filter((w) => w !== "sudo").map((w) => (w === "./dist/falc" ? FALC : w));
  const p = Bun.spawn(argv, { cwd: root, env: { ...process.env, FALC_HOME: h.home, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

const steps = quickStart();

test("the quick start shows setup, a bundled sample analysed with falc process, and the namespace lab scanned", () => {
  expect(steps.map((s) => s.command)).toEqual(["bash scripts/setup", "./dist/falc process fixtures/samples/dropper.ps1", "sudo scripts/lab run -- ./dist/falc scan {subnet}"]);
  // Real work, not a no-op: signatures found, open ports found.
  expect(steps[1]!.expected.join("\n")).toMatch(/score {6}8 \(likely malicious\)/);
  expect(steps[2]!.expected.filter((l) => / open /.test(l)).length).toBeGreaterThan(0);
});

test("`falc process` on the bundled sample prints what the README shows", async () => {
  const step = steps[1]!;
  const r = await run(step.command);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(normal(r.stdout.trimEnd().split("\n"), h.home)).toEqual(normal(step.expected, h.home));
});

skipUnless(isRoot, "not root")("`scripts/lab run -- falc scan {subnet}` prints what the README shows", async () => {
  const step = steps[2]!;
  const r = await run(step.command);
  expect(r.code, r.stderr).toBe(0);
  expect(normal(r.stdout.trimEnd().split("\n"), h.home)).toEqual(normal(step.expected, h.home));
}, 120_000);
