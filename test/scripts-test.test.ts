// scripts/test itself, on tiny fixture suites (FALC_TEST_DIR): a failing, skipped, todo or
// unloadable test makes the run fail (skips under CI), a skip for an allowed reason does not,
// and the closing line counts exactly.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const tmp = mkdtempSync(join(tmpdir(), "falc-scripts-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const header = `import { describe, expect, test } from "bun:test";\nimport { describeUnless, skipUnless } from ${JSON.stringify(join(root, "test/skip.ts"))};\n`;
let n = 0;

/** Run scripts/test on a fixture directory holding `files` (name → body after the imports). */
async function runOn(files: Record<string, string>, ci: boolean, extraEnv: Record<string, string> = {}): Promise<{ code: number; out: string; last: string }> {
  const dir = join(tmp, String(n++));
  mkdirSync(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), name.endsWith(".ts") ? header + body : body);
  const env: Record<string, string | undefined> = { ...process.env, FALC_TEST_DIR: dir, CI: ci ? "true" : "", ...extraEnv };
  const p = Bun.spawn(["bash", join(root, "scripts/test")], { env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const lines = out.trimEnd().split("\n");
  return { code, out: out + err, last: lines[lines.length - 1]! };
}

const pass = `test("adds", () => { expect(1 + 1).toBe(2); });\n`;

// Each test runs scripts/test in a directory of its own: they run at once, the build test's seconds hiding the rest.
describe("scripts/test", () => {
  test.concurrent("all passing, plus skips for allowed reasons: exit 0 under CI, the skipped named, the closing line exact", async () => {
    const r = await runOn(
      {
        "a.test.ts": pass + `skipUnless(false, "not root")("needs root", () => {});\n`,
        "b.test.ts": `describeUnless(false, "no KVM")("kvm things", () => { test("boots", () => {}); test("halts", () => {}); });\n` + pass,
      },
      true,
    );
    expect(r.last).toBe("2 passed, 0 failed, 3 skipped");
    expect(r.out).toContain("needs root (skipped: not root)");
    expect(r.out).toContain("kvm things (skipped: no KVM) > boots");
    expect(r.code).toBe(0);
  });

  test.concurrent("a failing test fails the run and is named", async () => {
    const r = await runOn({ "a.test.ts": pass + `test("breaks", () => { expect(1).toBe(2); });\n` }, false);
    expect(r.last).toBe("1 passed, 1 failed, 0 skipped");
    expect(r.out).toMatch(/failed tests \(1\):\n {2}.*a\.test\.ts > breaks/);
    expect(r.code).toBe(1);
  });

  for (const [what, body] of [
    ["test.skip", `test.skip("later", () => {});\n`],
    ["test.skipIf", `test.skipIf(true)("no tool", () => {});\n`],
    ["test.todo", `test.todo("someday");\n`],
    ["a reason the project controls in the title", `test.skip("needs yara (skipped: yara is not installed)", () => {});\n`],
  ] as const) {
    test.concurrent(`a skip by ${what} fails the run under CI, and is only reported otherwise`, async () => {
      const ci = await runOn({ "a.test.ts": pass + body }, true);
      expect(ci.last).toBe("1 passed, 0 failed, 1 skipped");
      expect(ci.out).toContain("not an allowed reason");
      expect(ci.code).toBe(1);
      const local = await runOn({ "a.test.ts": pass + body }, false);
      expect(local.last).toBe("1 passed, 0 failed, 1 skipped");
      expect(local.code).toBe(0);
    });
  }

  test.concurrent("a test file that does not load fails the run even though JUnit does not list it", async () => {
    const r = await runOn({ "a.test.ts": pass, "b.test.ts": `throw new Error("redis-server is not installed");\n` }, false);
    expect(r.last).toMatch(/^1 passed, [1-9]\d* failed, 0 skipped$/);
    expect(r.code).toBe(1);
  });

  test.concurrent("a type error fails the run even when every test passes", async () => {
    const tsconfig = JSON.stringify({ extends: join(root, "tsconfig.json"), compilerOptions: { typeRoots: [join(root, "node_modules/@types")] }, include: ["."] });
    const r = await runOn({ "a.test.ts": pass + `export const n: number = "not a number";\n`, "tsconfig.json": tsconfig }, false);
    expect(r.out).toMatch(/a\.test\.ts.*error TS2322/);
    expect(r.out).toContain("FAIL: tsc --noEmit found type errors");
    expect(r.last).toBe("1 passed, 0 failed, 0 skipped");
    expect(r.code).toBe(1);
  });

  test.concurrent("the binary under test is built in this run from this tree, whatever FALC_BIN said before", async () => {
    const started = Date.now();
    const body = `import { statSync } from "node:fs";
test("falc is fresh", () => {
  const bin = process.env.FALC_BIN!;
  expect(bin).not.toBe("/nonexistent/old-falc");
  expect(statSync(bin).mtimeMs).toBeGreaterThanOrEqual(${started} - 1000);
  expect(Bun.spawnSync([bin, "--version"]).stdout.toString()).toMatch(/^\\d+\\.\\d+\\.\\d+/);
});
`;
    const r = await runOn({ "a.test.ts": body }, false, { FALC_TEST_BUILD: "1", FALC_BIN: "/nonexistent/old-falc" });
    expect(r.out).toContain("== build ");
    expect(r.last).toBe("1 passed, 0 failed, 0 skipped");
    expect(r.code).toBe(0);
  }, 60_000);

  test.concurrent("no test at all fails the run", async () => {
    const r = await runOn({ "a.test.ts": `export {};\n` }, false);
    expect(r.last).toBe("0 passed, 0 failed, 0 skipped");
    expect(r.out).toMatch(/no test ran|no test passed/);
    expect(r.code).toBe(1);
  });

  test.concurrent("a skip reason outside the allowed list is refused when the test is written", async () => {
    const r = await runOn({ "a.test.ts": pass + `skipUnless(false, "no yara" as never)("x", () => {});\n` }, false);
    expect(r.out).toContain("skip reason `no yara` is not one of");
    expect(r.code).toBe(1);
  });
});
