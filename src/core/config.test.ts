import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { configSection, loadConfig } from "./config.ts";
import { FalcError } from "./errors.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-cfg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const errOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as FalcError;
  }
  throw new Error("expected an error");
};

describe("config", () => {
  test("defaults, then file, then FALC_* env, then flags", () => {
    const p = file("a.yaml", "queue: sqlite:/tmp/a.db\nhealth_port: 9000\nworkers:\n  pre: 3\n");
    expect(loadConfig({}, {}).queue).toBe("sqlite");
    const c = loadConfig({ configPath: p }, { FALC_HOME: "/tmp/h" });
    expect(c.queue).toBe("sqlite:/tmp/a.db");
    expect(c.health_port).toBe(9000);
    expect(c.workers).toEqual({ pre: 3 });
    expect(c.home).toBe("/tmp/h");
    expect(c.source).toBe(p);
    const e = loadConfig({ configPath: p }, { FALC_QUEUE: "redis://x:1/0", FALC_HEALTH_PORT: "1234" });
    expect(e.queue).toBe("redis://x:1/0");
    expect(e.health_port).toBe(1234);
    const f = loadConfig({ configPath: p, queue: "sqlite:/tmp/flag.db", healthPort: 1 }, { FALC_QUEUE: "redis://x:1/0" });
    expect(f.queue).toBe("sqlite:/tmp/flag.db");
    expect(f.health_port).toBe(1);
    expect(loadConfig({}, { FALC_CONFIG: p }).health_port).toBe(9000);
  });

  test("errors name the file and the key", () => {
    const p = file("b.yaml", "health_port: 99999\n");
    const e = errOf(() => loadConfig({ configPath: p }, {}));
    expect(e.code).toBe("config");
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(p);
    expect(e.message).toContain("`health_port`");
    const u = errOf(() => loadConfig({ configPath: file("c.yaml", "bogus: 1\n") }, {}));
    expect(u.message).toMatch(/unknown key `bogus`/);
    const y = errOf(() => loadConfig({ configPath: file("d.yaml", "a: [1,\n") }, {}));
    expect(y.message).toMatch(/d\.yaml:\d+:\d+: invalid YAML/);
    const l = errOf(() => loadConfig({ configPath: file("e.yaml", "- 1\n- 2\n") }, {}));
    expect(l.message).toMatch(/must be a mapping/);
    const env = errOf(() => loadConfig({}, { FALC_HEALTH_PORT: "eighty" }));
    expect(env.message).toMatch(/^environment \(FALC_\*\): key `health_port`/);
    const missing = errOf(() => loadConfig({ configPath: join(dir, "nope.yaml") }, {}));
    expect(missing.message).toMatch(/config file not found \(from --config\)/);
  });

  test("stage sections are validated by their owner, naming the full key", () => {
    const p = file("f.yaml", "scan:\n  parallel: -1\n");
    const c = loadConfig({ configPath: p }, {});
    const e = errOf(() => configSection(c, "scan", z.object({ parallel: z.number().int().min(1) })));
    expect(e.message).toContain("`scan.parallel`");
    expect(e.message).toContain(p);
  });
});
