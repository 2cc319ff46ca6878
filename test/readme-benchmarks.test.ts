import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

// README "Benchmarks": the scripts it names are the ones there are, and none of them runs in CI.
const root = resolve(import.meta.dir, "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const benches = readdirSync(join(root, "scripts/bench")).filter((f) => f.endsWith(".ts") && f !== "args.ts");

test("every benchmark script is named in the README, and every one it names exists", () => {
  const named = new Set([...readme.matchAll(/scripts\/bench\/([a-z-]+\.ts)/g)].map((m) => m[1]!));
  expect([...named].filter((f) => !existsSync(join(root, "scripts/bench", f)))).toEqual([]);
  expect(benches.filter((f) => !named.has(f))).toEqual([]);
});

test("no benchmark runs in CI: neither .ci/run, scripts/test nor any test file starts one", () => {
  const runners = [".ci/run", "scripts/test"].map((f) => readFileSync(join(root, f), "utf8"));
  for (const r of runners) expect(r).not.toContain("bench");
  const tests: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(join(root, d), { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (/\.test\.tsx?$/.test(e.name) && p !== "test/readme-benchmarks.test.ts") tests.push(p);
    }
  };
  for (const d of ["src", "test", "plugins", "commands"]) walk(d);
  expect(tests.length).toBeGreaterThan(50);
  // Code, not comments (a comment may say which benchmark measures what a test leaves out).
  const code = (t: string) => readFileSync(join(root, t), "utf8").split("\n").filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join("\n");
  expect(tests.filter((t) => code(t).includes("scripts/bench"))).toEqual([]);
});
