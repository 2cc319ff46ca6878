import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runFalc } from "./helpers.ts";

// The units in contrib/systemd are what the README's "several machines" section installs: each must start a
// command this falc has, with flags it knows, keep secrets out of argv, and give --grace the time it promises.
const dir = join(import.meta.dir, "../../contrib/systemd");
const units = readdirSync(dir).filter((f) => f.endsWith(".service"));

function field(text: string, key: string): string | undefined {
  return text.split("\n").find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
}

describe("contrib/systemd units", () => {
  test("there is one for the worker, the sync master and worker, and the eval service", () => {
    expect(units.sort()).toEqual(["falc-eval-serve.service", "falc-sync-master.service", "falc-sync-worker.service", "falc-worker.service"]);
  });

  for (const unit of units) {
    test(`${unit}: ExecStart is a falc command with flags it knows, no secret in argv`, async () => {
      const text = readFileSync(join(dir, unit), "utf8");
      const exec = field(text, "ExecStart")!;
      expect(exec).toBeDefined();
      const argv = exec.split(/\s+/);
      expect(argv[0]).toBe("/usr/local/bin/falc");
      const sub: string[] = [];
      for (const a of argv.slice(1)) {
        if (a.startsWith("-")) break;
        sub.push(a);
      }
      const help = await runFalc([...sub, "--help"]);
      expect(help.code).toBe(0);
      for (const flag of argv.filter((a) => a.startsWith("--"))) expect(help.stdout).toContain(flag);
      // Secrets come from the EnvironmentFile: no URL with a password, no key value, no password flag.
      expect(exec).not.toMatch(/redis:\/\/[^ ]*:[^ ]*@|--password|--api-key|--token/);
      expect(field(text, "EnvironmentFile")).toBe("/etc/falc/falc.env");
      expect(field(text, "Restart")).toBe("on-failure");
      expect(field(text, "KillMode")).toBe("mixed");
    });
  }

  test("the worker's TimeoutStopSec outlasts its --grace, so systemd never cuts a graceful stop short", () => {
    const text = readFileSync(join(dir, "falc-worker.service"), "utf8");
    const grace = Number(/--grace (\d+)/.exec(field(text, "ExecStart")!)![1]);
    const stop = Number(field(text, "TimeoutStopSec"));
    expect(stop).toBeGreaterThanOrEqual(grace + 10);
  });

  test("the environment file example carries the queue URL and is the only place for secrets", () => {
    const env = readFileSync(join(dir, "falc.env.example"), "utf8");
    expect(env).toMatch(/^FALC_QUEUE=redis:\/\//m);
    expect(env).toMatch(/^FALC_STAGES=/m);
  });
});
