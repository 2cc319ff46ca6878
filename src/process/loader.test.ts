import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "../core/logger.ts";
import { loadPlugins, pluginFiles, pluginsOnce } from "./loader.ts";
import type { PluginFactory, Processor } from "./plugin.ts";
import { processCfg, tempDir } from "../../test/process/testkit.ts";

const t = tempDir("falc-loader-");
afterAll(() => t.cleanup());

let n = 0;
function pluginDir(files: Record<string, string>): string {
  const dir = join(t.dir, `plugins${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const proc = (o: Partial<Processor> & { NAME: string; KEY: string }): Processor => ({ kind: "processor", ORDER: 10, STAGE: "pre", CATEGORY: ["file"], start: () => ({}), ...o });
const factory = (...ps: Processor[]): PluginFactory => () => ps;
const load = (builtins: PluginFactory[], over = {}) => loadPlugins({ builtins, config: processCfg(over), log: silentLogger });

const userModule = (name: string, key: string, stage = "pre", extra = "") => `
export default (api) => ({
  kind: "processor", NAME: ${JSON.stringify(name)}, KEY: ${JSON.stringify(key)}, ORDER: 5, STAGE: ${JSON.stringify(stage)}, CATEGORY: ["file"],
  start(ctx) { return { z: typeof api.z.object, disable: typeof api.DisablePlugin }; },
  ${extra}
});`;

describe("plugin loader", () => {
  test("user modules in a directory load through the factory and get the host API", async () => {
    const dir = pluginDir({
      "a.ts": userModule("user_a", "ua"),
      "b.js": userModule("user_b", "ub", "post"),
      "notes.md": "not a plugin",
      "skip.test.ts": "throw new Error('test files are not plugins')",
      "_helper.ts": "throw new Error('helpers are not plugins')",
    });
    expect(pluginFiles(dir).map((f) => f.slice(dir.length + 1))).toEqual(["a.ts", "b.js"]);
    const set = await load([], { plugin_dirs: [dir] });
    expect(set.processors.pre.map((l) => l.plugin.NAME)).toEqual(["user_a"]);
    expect(set.processors.post.map((l) => l.plugin.NAME)).toEqual(["user_b"]);
    expect(set.processors.pre[0]!.source).toBe(join(dir, "a.ts"));
    expect(await set.processors.pre[0]!.plugin.start({} as never)).toEqual({ z: "function", disable: "function" });
  });

  test("processors are in ORDER (then NAME) per stage", async () => {
    const set = await load([factory(proc({ NAME: "c", KEY: "c", ORDER: 3 }), proc({ NAME: "a", KEY: "a", ORDER: 3 }), proc({ NAME: "z", KEY: "z", ORDER: 1 }))]);
    expect(set.processors.pre.map((l) => l.plugin.NAME)).toEqual(["z", "a", "c"]);
  });

  test("a duplicate KEY within a stage is a load error naming both plugins and their files", async () => {
    const dir = pluginDir({ "dup.ts": userModule("mine", "static") });
    const err = await load([factory(proc({ NAME: "theirs", KEY: "static" }))], { plugin_dirs: [dir] }).catch((e) => e);
    expect(err.code).toBe("config");
    expect(err.message).toContain("duplicate KEY `static` in stage pre");
    expect(err.message).toContain("theirs (built-in)");
    expect(err.message).toContain(`mine (${join(dir, "dup.ts")})`);
    // The same KEY in two different stages is fine.
    const ok = await load([factory(proc({ NAME: "p1", KEY: "k" }), proc({ NAME: "p2", KEY: "k", STAGE: "post" }))]);
    expect(ok.names().sort()).toEqual(["p1", "p2"]);
  });

  test("process.disable leaves a plugin out, so a user's plugin may take over a built-in's KEY", async () => {
    const dir = pluginDir({ "mine.ts": userModule("mine", "static") });
    const set = await load([factory(proc({ NAME: "theirs", KEY: "static" }))], { plugin_dirs: [dir], disable: ["theirs"] });
    expect(set.processors.pre.map((l) => l.plugin.NAME)).toEqual(["mine"]);
  });

  test("enabled() false or DisablePlugin leaves a plugin out before the KEY check; other failures are load errors", async () => {
    const off = proc({ NAME: "off", KEY: "same", enabled: () => false });
    const on = proc({ NAME: "on", KEY: "same" });
    const set = await load([factory(off, on)]);
    expect(set.names()).toEqual(["on"]);
    const dir = pluginDir({ "d.ts": userModule("gone", "g", "pre", `initOnce() { throw new api.DisablePlugin("no rules installed"); },`) });
    expect((await load([], { plugin_dirs: [dir] })).names()).toEqual([]);
    const bad = pluginDir({ "bad.ts": userModule("broken", "b", "pre", `initOnce() { throw new Error("rules do not compile"); },`) });
    await expect(load([], { plugin_dirs: [bad] })).rejects.toThrow(`plugin broken (${join(bad, "bad.ts")}): initOnce() failed: rules do not compile`);
  });

  test("each plugin gets its own config section in enabled() and initOnce()", async () => {
    const seen: unknown[] = [];
    const p = proc({ NAME: "cfg", KEY: "cfg", enabled: (c) => (seen.push(["enabled", c]), true), initOnce: (c) => void seen.push(["initOnce", c]) });
    await load([factory(p)], { plugins: { cfg: { level: 3 } } });
    expect(seen).toEqual([["enabled", { level: 3 }], ["initOnce", { level: 3 }]]);
  });

  test("enabled() and initOnce() run once per process however often the stage sets up", async () => {
    let calls = 0;
    const dir = pluginDir({ "count.ts": userModule("count", "count", "pre", `initOnce() { globalThis.__falcInitOnce = (globalThis.__falcInitOnce ?? 0) + 1; },`) });
    const opts = { builtins: [], config: processCfg({ plugin_dirs: [dir] }), log: silentLogger };
    const [a, b] = await Promise.all([pluginsOnce(opts), pluginsOnce(opts)]);
    const c = await pluginsOnce(opts);
    expect(a).toBe(b);
    expect(c).toBe(a);
    calls = (globalThis as { __falcInitOnce?: number }).__falcInitOnce ?? 0;
    expect(calls).toBe(1);
  });

  test("malformed plugins and modules are refused with what is wrong", async () => {
    await expect(load([() => ({ kind: "processor", NAME: "x", KEY: "x", ORDER: 1, STAGE: "pre", CATEGORY: ["file"] }) as never])).rejects.toThrow("processor x from built-in: `start` must be a function");
    await expect(load([() => ({ kind: "thing" }) as never])).rejects.toThrow('`kind` must be "processor" or "reporter"');
    await expect(load([factory(proc({ NAME: "x", KEY: "score" }))])).rejects.toThrow("KEY `score` is reserved");
    await expect(load([factory(proc({ NAME: "x", KEY: "k", STAGE: "later" as never }))])).rejects.toThrow("`STAGE`");
    await expect(load([factory(proc({ NAME: "x", KEY: "k", CATEGORY: [] }))])).rejects.toThrow("`CATEGORY`");
    const notFactory = pluginDir({ "obj.ts": "export default { kind: 'processor' };" });
    await expect(load([], { plugin_dirs: [notFactory] })).rejects.toThrow("must `export default (api) => Plugin | Plugin[]`");
    const syntax = pluginDir({ "syntax.ts": "export default (api) => {{{" });
    await expect(load([], { plugin_dirs: [syntax] })).rejects.toThrow(`cannot load plugin module ${join(syntax, "syntax.ts")}`);
    const throws = pluginDir({ "t.ts": "export default () => { throw new Error('boom at load'); };" });
    await expect(load([], { plugin_dirs: [throws] })).rejects.toThrow("failed while loading: boom at load");
    await expect(load([], { plugin_dirs: [join(t.dir, "missing")] })).rejects.toThrow("does not exist");
  });
});
