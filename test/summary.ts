// Reads what scripts/test collected for each phase (bun's JUnit report, its console output and
// its exit code) and decides the run: prints the skipped tests by name, the failures, and a
// closing line `N passed, N failed, N skipped` alone on the last line (CI reads it).
// Exit 1 when a test failed, when a phase ran no test, or under CI=true when a test skipped for
// a reason the project controls (see test/skip.ts).
//
//   bun test/summary.ts <dir> <phase>...   reads <dir>/<phase>.xml, .log, .rc (and <dir>/problems)
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import { SKIP_REASONS, skipMark } from "./skip.ts";

interface Case {
  name: string;
  skipped: boolean;
  todo: boolean;
  failed: boolean;
}

type Node = Record<string, unknown>;
const list = (x: unknown): Node[] => (Array.isArray(x) ? x : x === undefined ? [] : [x]) as Node[];

/** Every testcase under a JUnit document, named `file > describe > test`. */
export function junitCases(xml: string): Case[] {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "", isArray: (n) => n === "testsuite" || n === "testcase" }).parse(xml) as Node;
  const out: Case[] = [];
  const walk = (suite: Node, path: string[]) => {
    for (const tc of list(suite.testcase)) {
      const skip = tc.skipped;
      out.push({
        name: [...path, String(tc.name)].join(" > "),
        skipped: skip !== undefined,
        todo: typeof skip === "object" && skip !== null && (skip as Node).message === "TODO",
        failed: tc.failure !== undefined || tc.error !== undefined,
      });
    }
    for (const s of list(suite.testsuite)) walk(s, [...path, String(s.name)]);
  };
  for (const root of list(doc.testsuites)) for (const file of list(root.testsuite)) walk(file, [String(file.name)]);
  return out;
}

/** bun's own console tally (` 3 fail`), which also counts files that failed to load: JUnit does not. */
export function consoleCount(log: string, word: "pass" | "fail" | "skip" | "todo"): number {
  const m = [...log.matchAll(new RegExp(`^ *(\\d+) ${word}$`, "gm"))];
  return m.reduce((n, x) => n + Number(x[1]), 0);
}

/** A skip is legitimate only when its title (or its describe block's) carries an allowed reason. */
export const legitimateSkip = (name: string): boolean => SKIP_REASONS.some((r) => name.includes(skipMark(r)));

export interface Verdict {
  passed: number;
  failed: number;
  skipped: number;
  skippedNames: string[];
  illegitimate: string[];
  failedNames: string[];
  problems: string[];
}

export function decide(phases: { phase: string; xml: string | null; log: string; rc: number }[], ci: boolean): Verdict {
  const v: Verdict = { passed: 0, failed: 0, skipped: 0, skippedNames: [], illegitimate: [], failedNames: [], problems: [] };
  for (const p of phases) {
    const cases = p.xml ? junitCases(p.xml) : [];
    if (p.xml === null) v.problems.push(`${p.phase}: bun wrote no JUnit report (it crashed or found no test file)`);
    const passed = cases.filter((c) => !c.skipped && !c.failed).length;
    const failedCases = cases.filter((c) => c.failed);
    const skipped = cases.filter((c) => c.skipped);
    let failed = Math.max(failedCases.length, consoleCount(p.log, "fail"));
    if (p.rc !== 0 && failed === 0) {
      v.problems.push(`${p.phase}: bun test exited ${p.rc} with no failing test counted (a file that did not load, an error between tests)`);
      failed = 1;
    }
    if (passed + failed + skipped.length === 0) v.problems.push(`${p.phase}: no test ran`);
    v.passed += passed;
    v.failed += failed;
    v.skipped += skipped.length;
    v.failedNames.push(...failedCases.map((c) => c.name));
    v.skippedNames.push(...skipped.map((c) => (c.todo ? `${c.name} (todo)` : c.name)));
    v.illegitimate.push(...skipped.filter((c) => c.todo || !legitimateSkip(c.name)).map((c) => c.name));
  }
  if (v.passed === 0) v.problems.push("no test passed");
  if (ci && v.illegitimate.length) v.problems.push(`${v.illegitimate.length} test(s) skipped for a reason the project controls (allowed under CI: ${SKIP_REASONS.join(", ")}; see test/skip.ts)`);
  return v;
}

if (import.meta.main) {
  const [dir, ...phases] = process.argv.slice(2);
  if (!dir || !phases.length) {
    console.error("usage: bun test/summary.ts <dir> <phase>...");
    process.exit(2);
  }
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : null);
  const v = decide(
    phases.map((phase) => ({ phase, xml: read(`${phase}.xml`), log: read(`${phase}.log`) ?? "", rc: Number(read(`${phase}.rc`) ?? 1) })),
    process.env.CI === "true" || process.env.CI === "1",
  );
  // Problems found before the tests ran (the type check), one a line.
  v.problems.unshift(...(read("problems") ?? "").split("\n").filter(Boolean));
  if (v.skippedNames.length) {
    console.log(`skipped tests (${v.skippedNames.length}):`);
    for (const n of v.skippedNames) console.log(`  ${n}${v.illegitimate.includes(n.replace(/ \(todo\)$/, "")) ? "   <- not an allowed reason" : ""}`);
  }
  if (v.failedNames.length) {
    console.log(`failed tests (${v.failedNames.length}):`);
    for (const n of v.failedNames) console.log(`  ${n}`);
  }
  for (const p of v.problems) console.log(`FAIL: ${p}`);
  console.log(`${v.passed} passed, ${v.failed} failed, ${v.skipped} skipped`);
  process.exit(v.failed > 0 || v.problems.length ? 1 : 0);
}
