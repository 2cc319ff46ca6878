import { afterAll, describe, expect, test } from "bun:test";
import { silentLogger } from "../core/logger.ts";
import { CancelProcessing, DisablePlugin, type PluginFactory, type Processor, type ReportContext, type Reporter } from "./plugin.ts";
import { runStage, type StageBase } from "./runner.ts";
import { pluginSet, tempDir } from "../../test/process/testkit.ts";

const t = tempDir("falc-runner-");
afterAll(() => t.cleanup());

const base = (over: Partial<StageBase> = {}): StageBase => ({
  stage: "pre",
  analysisId: "20260101-AAAAAA",
  analysisDir: t.dir,
  category: "file",
  target: { category: "file", path: "/dev/null", filename: "x", size: 0, sha256: "0".repeat(64) },
  signal: new AbortController().signal,
  workDir: t.dir,
  log: silentLogger,
  ...over,
});

const proc = (o: Partial<Processor> & { NAME: string }): Processor => ({ kind: "processor", KEY: o.NAME, ORDER: 10, STAGE: "pre", CATEGORY: ["file"], start: () => undefined, ...o });
const all = (...ps: (Processor | Reporter)[]): PluginFactory => () => ps;
const doc = (o: { results: Record<string, unknown>; score: number; errors: unknown }) => ({ ...o.results, score: o.score, errors: o.errors });

async function run(plugins: (Processor | Reporter)[], over: Partial<StageBase> = {}, platforms: string[] = []) {
  return runStage({ stage: over.stage ?? "pre", plugins: await pluginSet([all(...plugins)]), base: base(over), platforms, document: doc });
}

describe("stage runner", () => {
  test("processors run in ORDER and see the results of those before them", async () => {
    const seen: string[][] = [];
    const out = await run([
      proc({ NAME: "second", ORDER: 20, start: (c) => (seen.push(Object.keys(c.results)), { n: 2 }) }),
      proc({ NAME: "first", ORDER: 1, start: (c) => (seen.push(Object.keys(c.results)), { n: 1 }) }),
      proc({ NAME: "third", ORDER: 30, start: (c) => (seen.push(Object.keys(c.results)), (c.results.first as { n: number }).n + (c.results.second as { n: number }).n) }),
      proc({ NAME: "nothing", ORDER: 40, start: () => undefined }),
    ]);
    expect(seen).toEqual([[], ["first"], ["first", "second"]]);
    expect(out.ok).toBe(true);
    expect(out.results).toEqual({ first: { n: 1 }, second: { n: 2 }, third: 3 });
  });

  test("init → start → cleanup with per-run state; cleanup also after a failure", async () => {
    const calls: string[] = [];
    const p = proc({
      NAME: "stateful",
      init: (c) => void (c.state.opened = true, calls.push("init")),
      start: (c) => {
        calls.push(`start ${c.state.opened}`);
        throw new Error("parse error at 0x40");
      },
      cleanup: (c) => void calls.push(`cleanup ${c.state.opened}`),
    });
    const out = await run([p]);
    expect(calls).toEqual(["init", "start true", "cleanup true"]);
    expect(out.ok).toBe(false);
  });

  test("DisablePlugin in init or start skips the plugin without an error", async () => {
    const out = await run([
      proc({ NAME: "a", ORDER: 1, init: () => { throw new DisablePlugin("not for this file"); }, start: () => 1 }),
      proc({ NAME: "b", ORDER: 2, start: () => { throw new DisablePlugin(); } }),
      proc({ NAME: "c", ORDER: 3, start: () => "ran" }),
    ]);
    expect(out.ok).toBe(true);
    expect(out.results).toEqual({ c: "ran" });
    expect(out.errors).toEqual({ errors: [], fatal: [] });
  });

  test("CancelProcessing stops the stage as fatal; later plugins and reporters do not run", async () => {
    let later = false;
    let reported = false;
    const out = await run([
      proc({ NAME: "gate", ORDER: 1, start: () => { throw new CancelProcessing("the submitted file is gone"); } }),
      proc({ NAME: "later", ORDER: 2, start: () => void (later = true) }),
      { kind: "reporter", NAME: "rep", ORDER: 1, reportPre: () => void (reported = true) },
    ]);
    expect(out.ok).toBe(false);
    expect(later).toBe(false);
    expect(reported).toBe(false);
    expect(out.errors.fatal).toHaveLength(1);
    expect(out.errors.fatal[0]!.error).toBe("pre processing cancelled by plugin gate: the submitted file is gone");
    expect(out.errors.fatal[0]!.traceback).toContain("CancelProcessing: the submitted file is gone");
  });

  test("any other throw is fatal with the plugin's name, message and stack", async () => {
    function parseSections(): never {
      throw new TypeError("cannot read properties of undefined (reading 'VirtualAddress')");
    }
    const out = await run([proc({ NAME: "pe_static", start: () => parseSections() })]);
    expect(out.ok).toBe(false);
    expect(out.errors.fatal[0]!.error).toBe("plugin pe_static failed: cannot read properties of undefined (reading 'VirtualAddress')");
    expect(out.errors.fatal[0]!.traceback).toContain("TypeError");
    expect(out.errors.fatal[0]!.traceback).toContain("parseSections");
    expect(out.errors.fatal[0]!.traceback).toContain("runner.test.ts");
    // Non-Error throws are recorded too.
    const odd = await run([proc({ NAME: "odd", start: () => { throw "a string"; } })]);
    expect(odd.errors.fatal).toEqual([{ error: "plugin odd failed: a string", traceback: "" }]);
  });

  test("a result that cannot be stored as JSON is fatal for that plugin", async () => {
    const out = await run([proc({ NAME: "big", start: () => ({ n: 10n }) })]);
    expect(out.ok).toBe(false);
    expect(out.errors.fatal[0]!.error).toMatch(/^plugin big failed: .*BigInt/i);
  });

  test("ctx.errors.add records non-fatal errors prefixed with the plugin's NAME", async () => {
    const out = await run([proc({ NAME: "strings", start: (c) => { c.errors.add("section .rsrc truncated"); c.errors.add(new Error("bad utf-16")); return 1; } })]);
    expect(out.ok).toBe(true);
    expect(out.errors).toEqual({ errors: ["strings: section .rsrc truncated", "strings: bad utf-16"], fatal: [] });
  });

  test("signatures: the score is the max, a repeat adds iocs, a bad level is fatal", async () => {
    const out = await run([
      proc({ NAME: "s1", start: (c) => { c.signatures.add({ name: "packer", short_description: "UPX", score: 6, iocs: ["UPX0"] }); c.signatures.add({ name: "info", short_description: "i", score: 1 }); } }),
      proc({ NAME: "s2", start: (c) => { c.signatures.add({ name: "packer", short_description: "UPX", score: 6, iocs: ["UPX1"] }); c.signatures.add({ name: "ransom", short_description: "r", score: 9, family: "locky" }); } }),
    ]);
    expect(out.score).toBe(9);
    expect(out.signatures.map((s) => [s.name, s.score])).toEqual([["ransom", 9], ["packer", 6], ["info", 1]]);
    expect(out.signatures.find((s) => s.name === "packer")!.iocs).toEqual(["UPX0", "UPX1"]);
    const bad = await run([proc({ NAME: "s3", start: (c) => c.signatures.add({ name: "x", short_description: "", score: 7 as never }) })]);
    expect(bad.ok).toBe(false);
    expect(bad.errors.fatal[0]!.error).toContain("signature x: key `score`");
    const none = await run([]);
    expect(none.score).toBe(0);
  });

  test("reporters get the stage's document, results, score and errors, in ORDER, for their stage only", async () => {
    const got: { name: string; ctx: ReportContext }[] = [];
    const rep = (NAME: string, ORDER: number): Reporter => ({ kind: "reporter", NAME, ORDER, reportPre: (ctx) => void got.push({ name: NAME, ctx }), reportPost: () => { throw new Error("not this stage"); } });
    const out = await run([rep("second", 5), rep("first", 1), proc({ NAME: "r", start: (c) => { c.errors.add("minor"); c.signatures.add({ name: "s", short_description: "d", score: 8 }); return { v: 1 }; } })]);
    expect(out.ok).toBe(true);
    expect(got.map((g) => g.name)).toEqual(["first", "second"]);
    const c = got[0]!.ctx;
    expect(c.score).toBe(8);
    expect(c.results).toEqual({ r: { v: 1 } });
    expect(c.errorReport).toEqual({ errors: ["r: minor"], fatal: [] });
    expect(c.document).toEqual({ r: { v: 1 }, score: 8, errors: { errors: ["r: minor"], fatal: [] } });
  });

  test("a throwing reporter makes the stage fatal", async () => {
    const out = await run([{ kind: "reporter", NAME: "disk", ORDER: 1, reportPre: () => { throw new Error("ENOSPC"); } }]);
    expect(out.ok).toBe(false);
    expect(out.errors.fatal[0]!.error).toBe("reporter disk failed (pre): ENOSPC");
  });

  test("CATEGORY and PLATFORMS decide which processors run", async () => {
    const ps = [
      proc({ NAME: "win", PLATFORMS: ["windows"], start: () => 1 }),
      proc({ NAME: "lin", PLATFORMS: ["linux"], start: () => 1 }),
      proc({ NAME: "any", start: () => 1 }),
      proc({ NAME: "urls", CATEGORY: ["url"], start: () => 1 }),
    ];
    expect(Object.keys((await run(ps, {}, ["linux"])).results).sort()).toEqual(["any", "lin"]);
    expect(Object.keys((await run(ps, {}, [])).results).sort()).toEqual(["any", "lin", "win"]);
    expect(Object.keys((await run(ps, { category: "url", target: { category: "url", url: "http://x/" } }, [])).results).sort()).toEqual(["urls"]);
  });

  test("a cancelled task is not a processing failure: the abort reason is thrown", async () => {
    const ac = new AbortController();
    const p = run([proc({ NAME: "slow", start: async () => { ac.abort(new Error("task cancelled")); throw new Error("interrupted read"); } })], { signal: ac.signal });
    await expect(p).rejects.toThrow("task cancelled");
  });

  test("a document that cannot be composed is fatal", async () => {
    const out = await runStage({ stage: "pre", plugins: await pluginSet([]), base: base(), platforms: [], document: () => { throw new Error("identify result has no target"); } });
    expect(out.ok).toBe(false);
    expect(out.errors.fatal[0]!.error).toBe("pre result is not usable: identify result has no target");
  });
});
