import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fallbackIdentify from "../../plugins/identification/fallback.ts";
import htmlReport from "../../plugins/reporting/html.ts";
import jsonDump from "../../plugins/reporting/json.ts";
import { attachBehaviour, collectedFiles } from "./attach.ts";
import { runIdentification, runPost, runPre } from "./flow.ts";
import { analysisPaths, taskPaths } from "./layout.ts";
import type { FileTarget, PluginFactory, Processor } from "./plugin.ts";
import { type Store, openStore, createAnalysis, readAnalysis, readStageDoc, readTask } from "./storage.ts";
import { flowEnv, pluginSet, tempDir } from "../../test/process/testkit.ts";

const t = tempDir("falc-flow-");
afterAll(() => t.cleanup());

let n = 0;
function sample(content: string | Uint8Array, name = "sample.bin"): string {
  const dir = join(t.dir, `in${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, name), content);
  return join(dir, name);
}
const hashes = (b: Uint8Array) => Object.fromEntries(["md5", "sha1", "sha256", "sha512"].map((a) => [a, createHash(a).update(b).digest("hex")]));
const proc = (o: Partial<Processor> & { NAME: string }): Processor => ({ kind: "processor", KEY: o.NAME, ORDER: 10, STAGE: "pre", CATEGORY: ["file", "url"], start: () => undefined, ...o });
/** The framework's own plugins only, so these tests do not depend on what else is built in. */
const core: PluginFactory[] = [fallbackIdentify, jsonDump, htmlReport];
const extra = (...ps: Processor[]): PluginFactory[] => [...core, () => ps];

async function through(store: Store, factories: PluginFactory[], content: string | Uint8Array, over = {}) {
  const env = flowEnv(store, await pluginSet(factories, over), over);
  const { analysis } = createAnalysis(store, { category: "file", path: sample(content) });
  const ident = await runIdentification(env, analysis.id);
  const pre = ident.next === "pre" ? await runPre(env, analysis.id) : null;
  return { env, id: analysis.id, ident, pre, analysis: readAnalysis(store, analysis.id) };
}

describe("identification → pre → tasks", () => {
  test("without an `identify` processor the core derives the target; one task per identified platform", async () => {
    const store = openStore(join(t.dir, "h1"));
    const home = store.home;
    const elf = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, ...new Array(56).fill(0)]);
    const r = await through(store, core, elf);
    expect(r.analysis.state).toBe("tasks_pending");
    const p = analysisPaths(store, r.id);
    const ident = readStageDoc(store, p.identificationJson)!;
    expect(ident).toMatchObject({ identified: true, selected: true, category: "file", ignored: [] });
    expect(ident.target).toMatchObject({ filename: "sample.bin", filetype: "ELF", size: 64, extrpath: [], container: false, ...hashes(elf), platforms: [{ platform: "linux", os_version: "" }] });
    expect(ident.fallback_identify).toMatchObject({ filetype: "ELF" });
    expect(ident.errors).toEqual({ errors: [], fatal: [] });
    const pre = readStageDoc(store, p.preJson)!;
    expect(pre).toMatchObject({ analysis_id: r.id, category: "file", score: 0, signatures: [], target: ident.target, errors: { errors: [], fatal: [] } });
    expect(r.analysis.tasks).toEqual([{ id: `${r.id}_1`, platform: "linux", os_version: "", state: "pending", score: 0 }]);
    expect(readTask(store, `${r.id}_1`)).toMatchObject({ id: `${r.id}_1`, analysis_id: r.id, number: 1, state: "pending", platform: "linux", kind: "standard" });
    expect(r.analysis.target).toMatchObject({ sha256: hashes(elf).sha256 });
    expect(r.analysis.submitted).toMatchObject({ type: "ELF", media_type: "application/x-executable", md5: hashes(elf).md5, sha1: hashes(elf).sha1 });
    expect(existsSync(p.reportHtml)).toBe(true);
  });

  test("no identified platform → process.default_platform; a submission's platforms win", async () => {
    const store = openStore(join(t.dir, "h2"));
    const home = store.home;
    const r = await through(store, core, "just text\n", { default_platform: { platform: "linux", os_version: "12" } });
    expect(r.analysis.tasks.map((x) => [x.platform, x.os_version])).toEqual([["linux", "12"]]);
    const env = r.env;
    const { analysis } = createAnalysis(store, { category: "file", path: sample("x") }, { platforms: [{ platform: "windows", os_version: "10" }, { platform: "windows", os_version: "11" }] });
    await runIdentification(env, analysis.id);
    await runPre(env, analysis.id);
    expect(readAnalysis(store, analysis.id).tasks.map((x) => x.id)).toEqual([`${analysis.id}_1`, `${analysis.id}_2`]);
    expect(readTask(store, `${analysis.id}_2`).os_version).toBe("11");
  });

  test("an `identify` processor's result is identification.json's top level and picks the platforms", async () => {
    const store = openStore(join(t.dir, "h3"));
    const home = store.home;
    const identify = proc({
      NAME: "identify",
      STAGE: "identification",
      ORDER: 1,
      start: (c) => {
        const f = c.target as FileTarget;
        return {
          identified: true,
          selected: true,
          category: "file",
          target: { filename: "sample.exe", orig_filename: f.filename, size: f.size, filetype: "PE32 executable", media_type: "application/x-dosexec", extrpath: [], container: false, ...hashes(readFileSync(f.path)), platforms: [{ platform: "windows", os_version: "10" }, { platform: "windows", os_version: "7" }] },
          ignored: [],
        };
      },
    });
    const r = await through(store, extra(identify), "MZ....");
    const ident = readStageDoc(store, analysisPaths(store, r.id).identificationJson)!;
    expect(ident.target).toMatchObject({ filename: "sample.exe", filetype: "PE32 executable" });
    expect("identify" in ident).toBe(false);
    expect(r.analysis.tasks.map((x) => x.os_version)).toEqual(["10", "7"]);
  });

  test("a target selected inside a container: pre gets the archive's path, the extrpath and the selected file's facts", async () => {
    const store = openStore(join(t.dir, "h4"));
    const home = store.home;
    const inner = new TextEncoder().encode("MZ inner payload");
    const identify = proc({
      NAME: "identify",
      STAGE: "identification",
      ORDER: 1,
      start: () => ({
        identified: true,
        selected: true,
        category: "file",
        target: { filename: "inner.exe", orig_filename: "inner.exe", size: inner.length, filetype: "PE32", media_type: "application/x-dosexec", extrpath: ["inner.exe"], container: false, ...hashes(inner), platforms: [] },
        ignored: [{ filename: "readme.txt", reason: "not selected" }],
      }),
    });
    let seen: FileTarget | null = null;
    let bytes = "";
    const reader = proc({ NAME: "reader", start: (c) => void ((seen = c.target as FileTarget), (bytes = readFileSync(seen.path, "latin1"))) });
    const outerText = "PK\x03\x04 outer archive";
    const r = await through(store, extra(identify, reader), outerText);
    expect(r.analysis.state).toBe("tasks_pending");
    const outer = hashes(new TextEncoder().encode(outerText));
    expect(bytes).toBe(outerText);
    expect(seen!).toMatchObject({ category: "file", filename: "inner.exe", size: inner.length, extrpath: ["inner.exe"], ...hashes(inner) });
    expect(seen!.path).toBe(realpathSync(join(analysisPaths(store, r.id).dir, "binary")));
    expect(r.analysis.target).toMatchObject({ filename: "inner.exe", extrpath: ["inner.exe"] });
    // The submitted container's own hashes, not the selected file's.
    expect(r.analysis.submitted).toMatchObject({ md5: outer.md5, sha1: outer.sha1, sha256: outer.sha256, type: "" });
  });

  test("plugins see the submission's settings (the archive password, the platforms asked for)", async () => {
    const store = openStore(join(t.dir, "h11"));
    const home = store.home;
    const seen: unknown[] = [];
    const env = flowEnv(store, await pluginSet(extra(proc({ NAME: "peek", STAGE: "identification", start: (c) => void seen.push(c.settings) }), proc({ NAME: "peek2", start: (c) => void seen.push(c.settings?.password) }))));
    const { analysis } = createAnalysis(store, { category: "file", path: sample("PK") }, { password: "infected", platforms: [{ platform: "windows", os_version: "10" }] });
    await runIdentification(env, analysis.id);
    await runPre(env, analysis.id);
    expect(seen[0]).toMatchObject({ password: "infected", platforms: [{ platform: "windows", os_version: "10" }], extrpath: [], options: {} });
    expect(seen[1]).toBe("infected");
  });

  test("a submitted file gone from the store makes pre fatal with a message saying so", async () => {
    const store = openStore(join(t.dir, "h5"));
    const home = store.home;
    const env = flowEnv(store, await pluginSet(core));
    const { analysis, binary } = createAnalysis(store, { category: "file", path: sample("gone soon") });
    await runIdentification(env, analysis.id);
    rmSync(binary!.path);
    await runPre(env, analysis.id);
    const a = readAnalysis(store, analysis.id);
    expect(a.state).toBe("fatal_error");
    expect(a.errors.fatal[0]!.error).toBe(`the submitted file is gone from storage/binaries (${binary!.path})`);
    expect(a.tasks).toEqual([]);
  });

  test("a malformed `identify` result is a fatal identification with the key at fault", async () => {
    const store = openStore(join(t.dir, "h6"));
    const home = store.home;
    const identify = proc({ NAME: "identify", STAGE: "identification", start: () => ({ identified: true, selected: true, category: "file", target: { filename: "x" } }) });
    const r = await through(store, extra(identify), "x");
    expect(r.ident.next).toBeNull();
    expect(r.analysis.state).toBe("fatal_error");
    expect(r.analysis.errors.fatal[0]!.error).toMatch(/^identification result is not usable: result of `identify`: key `target/);
    expect(existsSync(analysisPaths(store, r.id).identificationJson)).toBe(false);
  });

  test("nothing selected: no_selected, or on to pre when nothing was identified (Cuckoo3's cancel_unidentified)", async () => {
    const store = openStore(join(t.dir, "h7"));
    const home = store.home;
    const mk = (identified: boolean) =>
      proc({
        NAME: "identify",
        STAGE: "identification",
        start: (c) => {
          const f = c.target as FileTarget;
          return { identified, selected: false, category: "file", target: { filename: f.filename, orig_filename: f.filename, size: f.size, filetype: "data", media_type: "x", extrpath: [], container: true, ...hashes(readFileSync(f.path)), platforms: [] }, ignored: [{ filename: "a.txt", reason: "no runnable file" }] };
        },
      });
    expect((await through(store, extra(mk(true)), "a")).analysis.state).toBe("no_selected");
    expect((await through(store, extra(mk(false)), "b")).analysis.state).toBe("tasks_pending");
    expect((await through(store, extra(mk(false)), "c", { cancel_unidentified: true })).analysis.state).toBe("no_selected");
  });

  test("a throwing plugin: analysis fatal_error, error and traceback in analysis.json, no tasks", async () => {
    const store = openStore(join(t.dir, "h8"));
    const home = store.home;
    const r = await through(store, extra(proc({ NAME: "bad", start: () => { throw new RangeError("offset out of range"); } })), "x");
    expect(r.analysis.state).toBe("fatal_error");
    expect(r.analysis.errors.fatal).toHaveLength(1);
    expect(r.analysis.errors.fatal[0]!.error).toBe("plugin bad failed: offset out of range");
    expect(r.analysis.errors.fatal[0]!.traceback).toContain("RangeError: offset out of range");
    expect(r.pre?.outcome?.ok).toBe(false);
    expect(existsSync(analysisPaths(store, r.id).preJson)).toBe(false);
  });

  test("a stage runs only in its state: a second identification or pre changes nothing", async () => {
    const store = openStore(join(t.dir, "h9"));
    const home = store.home;
    const r = await through(store, core, "x");
    const again = await runIdentification(r.env, r.id);
    expect(again.outcome).toBeNull();
    expect((await runPre(r.env, r.id)).outcome).toBeNull();
    expect(readAnalysis(store, r.id)).toEqual(r.analysis);
  });

  test("without the json reporter, a stage is fatal: the next one would have nothing to read", async () => {
    const store = openStore(join(t.dir, "h10"));
    const home = store.home;
    const r = await through(store, core, "x", { disable: ["json"] });
    expect(r.analysis.state).toBe("fatal_error");
    expect(r.analysis.errors.fatal[0]!.error).toContain("identification.json was not written");
  });
});

describe("post", () => {
  function collected(lines: string[][], pcap?: Uint8Array): string {
    const dir = join(t.dir, `collected${n++}`);
    mkdirSync(join(dir, "events"), { recursive: true });
    lines.forEach((ls, i) => writeFileSync(join(dir, "events", `log${i}.json`), ls.join("\n") + "\n"));
    if (pcap) writeFileSync(join(dir, "dump.pcap"), pcap);
    return dir;
  }
  const counter = proc({
    NAME: "count_events",
    STAGE: "post",
    start: (c) => {
      const dir = join(c.taskDir!, "events");
      let events = 0;
      for (const f of require("node:fs").readdirSync(dir)) events += readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean).length;
      if (events > 2) c.signatures.add({ name: "many_events", short_description: "lots going on", score: 8, family: "busy", tags: ["noisy"] });
      return { events, pcap: existsSync(join(c.taskDir!, "dump.pcap")), task: c.taskId, pre_seen: c.pre?.analysis_id };
    },
  });

  test("attach → post: report.json, task reported with its score, analysis finished with the max score", async () => {
    const store = openStore(join(t.dir, "p1"));
    const home = store.home;
    const r = await through(store, extra(counter), "x");
    const taskId = `${r.id}_1`;
    const files = collectedFiles(collected([['{"kind":"process","pid":1}', '{"kind":"file","path":"/tmp/x"}'], ['{"kind":"network"}']], new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1])));
    expect(files.events).toHaveLength(2);
    const attached = await attachBehaviour(store, taskId, files);
    expect(attached.state).toBe("pending_post");
    expect(readAnalysis(store, r.id).tasks[0]!.state).toBe("pending_post");
    const post = await runPost(r.env, taskId);
    expect(post.outcome?.ok).toBe(true);
    const tp = taskPaths(store, taskId);
    const report = readStageDoc(store, tp.reportJson)!;
    expect(report).toMatchObject({ task_id: taskId, score: 8, families: ["busy"], tags: ["noisy"], count_events: { events: 3, pcap: true, task: taskId, pre_seen: r.id }, errors: { errors: [], fatal: [] } });
    expect(existsSync(tp.reportHtml)).toBe(true);
    expect(readTask(store, taskId)).toMatchObject({ state: "reported", score: 8 });
    const a = readAnalysis(store, r.id);
    expect(a.state).toBe("finished");
    expect(a.score).toBe(8);
    expect(a.families).toEqual(["busy"]);
    expect(a.tasks[0]).toMatchObject({ state: "reported", score: 8 });
  });

  test("posting again replaces the behaviour and reopens the analysis until post is done", async () => {
    const store = openStore(join(t.dir, "p2"));
    const home = store.home;
    const r = await through(store, extra(counter), "x");
    const taskId = `${r.id}_1`;
    await attachBehaviour(store, taskId, collectedFiles(collected([["{}", "{}", "{}"]])));
    await runPost(r.env, taskId);
    await attachBehaviour(store, taskId, collectedFiles(collected([["{}"]])));
    expect(readAnalysis(store, r.id).state).toBe("tasks_pending");
    expect(existsSync(taskPaths(store, taskId).pcap)).toBe(false);
    await runPost(r.env, taskId);
    expect(readStageDoc(store, taskPaths(store, taskId).reportJson)!.count_events).toMatchObject({ events: 1 });
    expect(readAnalysis(store, r.id).state).toBe("finished");
  });

  test("a failing post plugin: task fatal_error with the traceback in task.json; the analysis still finishes (Cuckoo3)", async () => {
    const store = openStore(join(t.dir, "p3"));
    const home = store.home;
    const r = await through(store, extra(proc({ NAME: "pcap", STAGE: "post", start: () => { throw new Error("truncated packet header"); } })), "x");
    const taskId = `${r.id}_1`;
    await attachBehaviour(store, taskId, collectedFiles(collected([["{}"]])));
    const post = await runPost(r.env, taskId);
    expect(post.outcome?.ok).toBe(false);
    const task = readTask(store, taskId);
    expect(task.state).toBe("fatal_error");
    expect(task.errors.fatal[0]!.error).toBe("plugin pcap failed: truncated packet header");
    expect(task.errors.fatal[0]!.traceback).toContain("truncated packet header");
    expect(readAnalysis(store, r.id).state).toBe("finished");
  });

  test("bad collected behaviour is refused before anything changes", async () => {
    const store = openStore(join(t.dir, "p4"));
    const home = store.home;
    const r = await through(store, core, "x");
    const bad = collected([['{"ok":1}', "{not json"]]);
    expect(() => collectedFiles(bad)).toThrow(/log0\.json:2: not JSON/);
    expect(() => collectedFiles(collected([["[1,2]"]]))).toThrow(/log0\.json:1: an event must be a JSON object/);
    const empty = join(t.dir, "emptydir");
    mkdirSync(empty);
    expect(() => collectedFiles(empty)).toThrow(/no behaviour to attach/);
    expect(readTask(store, `${r.id}_1`).state).toBe("pending");
    // A task that is not waiting for post is not run.
    expect((await runPost(r.env, `${r.id}_1`)).outcome).toBeNull();
  });
});
