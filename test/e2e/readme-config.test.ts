import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FALC, runFalc, tempHome, waitFor } from "./helpers.ts";

// The README's Configuration section, sentence by sentence, against dist/falc: the example falc.yaml
// is accepted as printed, where the file is looked for, which layer wins, the FALC_* names, FALC_HOME's
// default and the exit codes of bad configuration.
const T = tempHome("falc-e2e-readme-config-");
afterAll(() => T.cleanup());
const STAGES = resolve(import.meta.dir, "../../fixtures/stages");

/** The yaml block under "## Configuration", exactly as the README prints it. */
function readmeYaml(): string {
  const readme = readFileSync(resolve(import.meta.dir, "../../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error("no yaml block in the README's Configuration section");
  return m[1]!;
}

const dir = (name: string) => {
  const d = join(T.home, name);
  mkdirSync(d, { recursive: true });
  return d;
};
const submit = async (cwd: string, env: Record<string, string>, extra: string[] = []) => {
  const r = await runFalc(["tasks", "submit", "noop", "--payload", '{"n":1}', "--json", ...extra], { cwd, env });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { maxAttempts: number };
};

test("the README's falc.yaml is accepted as printed, read from ./falc.yaml, retention included", async () => {
  const cwd = dir("readme");
  const home = join(cwd, "home");
  const yaml = readmeYaml();
  expect(yaml).toContain("max_attempts: 3");
  expect(yaml).toContain("retention:");
  // As printed: every key valid (unknown or mistyped keys are exit 2), retention's rules parse.
  writeFileSync(join(cwd, "falc.yaml"), yaml);
  expect((await submit(cwd, { FALC_HOME: home })).maxAttempts).toBe(3);
  const prune = await runFalc(["tasks", "prune", "--json"], { cwd, env: { FALC_HOME: home } });
  expect(prune.stderr).toBe("");
  expect(prune.code).toBe(0);
  // And it is this file that was read: change one value and the task says so.
  writeFileSync(join(cwd, "falc.yaml"), yaml.replace("max_attempts: 3", "max_attempts: 7"));
  expect((await submit(cwd, { FALC_HOME: home })).maxAttempts).toBe(7);
  expect(existsSync(join(home, "queue.sqlite"))).toBe(true); // queue: sqlite is FALC_HOME's queue.sqlite
});

test("--config, then FALC_CONFIG, then ./falc.yaml; FALC_* env over the file; flags over env", async () => {
  const cwd = dir("layers");
  const home = join(cwd, "home");
  const file = (name: string, text: string) => {
    writeFileSync(join(cwd, name), text);
    return join(cwd, name);
  };
  file("falc.yaml", "max_attempts: 4\n");
  const viaEnv = file("env.yaml", `max_attempts: 5\nqueue: sqlite:${join(cwd, "file.sqlite")}\n`);
  const viaFlag = file("flag.yaml", "max_attempts: 6\n");
  expect((await submit(cwd, { FALC_HOME: home })).maxAttempts).toBe(4);
  expect((await submit(cwd, { FALC_HOME: home, FALC_CONFIG: viaEnv })).maxAttempts).toBe(5);
  expect(existsSync(join(cwd, "file.sqlite"))).toBe(true);
  expect((await submit(cwd, { FALC_HOME: home, FALC_CONFIG: viaEnv }, ["--config", viaFlag])).maxAttempts).toBe(6);
  // queue: the file says file.sqlite, FALC_QUEUE says env.sqlite, --queue says flag.sqlite.
  await submit(cwd, { FALC_HOME: home, FALC_CONFIG: viaEnv, FALC_QUEUE: `sqlite:${join(cwd, "env.sqlite")}` });
  expect(existsSync(join(cwd, "env.sqlite"))).toBe(true);
  await submit(cwd, { FALC_HOME: home, FALC_CONFIG: viaEnv, FALC_QUEUE: `sqlite:${join(cwd, "env.sqlite")}` }, ["--queue", `sqlite:${join(cwd, "flag.sqlite")}`]);
  expect(existsSync(join(cwd, "flag.sqlite"))).toBe(true);
});

test("FALC_STAGE_PATH is colon-separated, stage_paths: in the file works too; FALC_LOG_LEVEL and a bad ./falc.yaml are usage errors naming the key (exit 2)", async () => {
  const cwd = dir("env");
  const env = { FALC_HOME: join(cwd, "home"), FALC_STAGE_PATH: `${STAGES}/effects-stage.ts:${STAGES}/test-stage.ts` };
  for (const [stage, payload] of [["teststage", "{}"], ["effects", '{"file":"/dev/null","ms":0}']] as const) {
    const ok = await runFalc(["tasks", "submit", stage, "--payload", payload], { cwd, env });
    expect([ok.code, ok.stderr]).toEqual([0, ""]);
    expect(ok.stdout.trim()).toMatch(/^\w+$/); // prints the task id
  }
  const bad = await runFalc(["tasks", "submit", "teststage", "--payload", '{"bogus":1}'], { cwd, env });
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  const unknown = await runFalc(["tasks", "submit", "teststage", "--payload", "{}"], { cwd, env: { FALC_HOME: env.FALC_HOME } });
  expect(unknown.code).toBe(2);
  // The same stage from `stage_paths:` in the config file.
  writeFileSync(join(cwd, "stages.yaml"), `stage_paths: [${STAGES}/test-stage.ts]\n`);
  const fromFile = await runFalc(["tasks", "submit", "teststage", "--payload", "{}", "--config", join(cwd, "stages.yaml")], { cwd, env: { FALC_HOME: env.FALC_HOME } });
  expect([fromFile.code, fromFile.stderr]).toEqual([0, ""]);

  const level = await runFalc(["tasks", "stats"], { cwd, env: { FALC_HOME: env.FALC_HOME, FALC_LOG_LEVEL: "loud" } });
  expect(level.code).toBe(2);
  expect(level.stderr).toMatch(/^falc: environment \(FALC_\*\): key `log_level`/);
  expect(level.stderr.trim().split("\n")).toHaveLength(1);
  writeFileSync(join(cwd, "falc.yaml"), "max_attempts: many\n");
  const file = await runFalc(["tasks", "stats"], { cwd, env: { FALC_HOME: env.FALC_HOME } });
  expect(file.code).toBe(2);
  expect(file.stderr).toContain(`${join(cwd, "falc.yaml")}: key \`max_attempts\``);
});

test("state lives in FALC_HOME, by default $XDG_DATA_HOME/falc, else ~/.local/share/falc", async () => {
  const home = dir("user");
  const sub = ["tasks", "submit", "noop", "--payload", '{"n":1}'];
  const r = await runFalc(sub, { cwd: home, env: { HOME: home, FALC_HOME: "", XDG_DATA_HOME: "" } });
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(existsSync(join(home, ".local/share/falc/queue.sqlite"))).toBe(true);
  const x = await runFalc(sub, { cwd: home, env: { HOME: home, FALC_HOME: "", XDG_DATA_HOME: join(home, "xdg") } });
  expect([x.code, x.stderr]).toEqual([0, ""]);
  expect(existsSync(join(home, "xdg/falc/queue.sqlite"))).toBe(true);
});

test("the README's falc.yaml shows the defaults: a config without those keys behaves the same", async () => {
  const { parse } = await import("yaml");
  const { loadConfig } = await import("../../src/core/config.ts");
  const { retentionFrom } = await import("../../src/queue/retention-rules.ts");
  const shown = parse(readmeYaml()) as Record<string, unknown>;
  const cwd = dir("defaults"); // no falc.yaml here
  const prev = process.cwd();
  process.chdir(cwd);
  try {
    const d = loadConfig({}, {}) as unknown as Record<string, unknown>;
    for (const k of ["queue", "log_level", "health_port", "stage_paths", "max_attempts"]) expect([k, d[k]]).toEqual([k, shown[k]]);
  } finally {
    process.chdir(prev);
  }
  // Retention: the README's top-level rules are the built-in ones (its per-stage scan rule is the example).
  const { stages: _example, ...top } = shown.retention as Record<string, unknown>;
  expect(retentionFrom(top).ruleFor("pre")).toEqual(retentionFrom(undefined).ruleFor("pre"));
  expect(README_DEFAULTS_SENTENCE.test(readFileSync(resolve(import.meta.dir, "../../README.md"), "utf8"))).toBe(true);
});

/** "By default finished tasks are kept 7 days and failed or cancelled ones 30 days, and at most 100,000 of each per stage" */
const README_DEFAULTS_SENTENCE = /By default finished tasks are kept 7 days and failed or cancelled ones 30 days, and at most 100,000 of\s+each per stage/;

test("logs on a terminal are readable lines (time, level, message, fields), not JSON", async () => {
  const home = dir("tty");
  const p = Bun.spawn(["script", "-qfc", `${FALC} worker --stage noop --no-tui --health-port 0 --log-level info`, "/dev/null"], {
    env: { ...process.env, FALC_HOME: home, NO_COLOR: "1", TERM: "xterm" },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "ignore",
  });
  let out = "";
  void (async () => {
    for await (const c of p.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
  })();
  try {
    await waitFor(() => /event=worker_ready/.test(out), 20_000, 50, "worker_ready on the terminal");
    const lines = out.split(/\r?\n/).filter(Boolean);
    expect(lines.find((l) => l.includes("event=health_listening"))).toMatch(/^\d\d:\d\d:\d\d info  health and metrics on http:\/\/\S+\/health {2}.*event=health_listening/);
    expect(lines.filter((l) => l.trimStart().startsWith("{"))).toEqual([]);
  } finally {
    p.kill("SIGTERM");
    await p.exited;
  }
}, 30_000);
