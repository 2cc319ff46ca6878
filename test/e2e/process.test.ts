import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FALC, runFalc, tempHome } from "./helpers.ts";

/** `falc process` on real samples made here (gcc, zip), with user plugin directories loaded by dist/falc. */
let H: { home: string; cleanup(): void };
let S: string; // samples
let P: Record<string, string>; // plugin directories
const env = () => ({ FALC_HOME: H.home });
const count = () => Bun.spawnSync(["find", join(H.home, "storage/analyses"), "-name", "analysis.json"]).stdout.toString().split("\n").filter(Boolean).length;
const sha256sum = (p: string) => Bun.spawnSync(["sha256sum", p]).stdout.toString().split(" ")[0];

function dir(name: string, files: Record<string, string>): string {
  const d = join(H.home, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}

const SCORE9 = `export default (api) => ({
  kind: "processor", NAME: "ci_marker", KEY: "ci_marker", ORDER: 50, STAGE: "pre", CATEGORY: ["file"],
  start(ctx) {
    const text = require("node:fs").readFileSync(ctx.target.path, "latin1");
    const hit = text.includes("EVIL_MARKER");
    if (hit) ctx.signatures.add({ name: "ci_marker", short_description: "the CI marker string is present", score: 9, family: "testfam", iocs: ["EVIL_MARKER"] });
    return { hit };
  },
});`;

const BOOM = `export default (api) => ({
  kind: "processor", NAME: "boom", KEY: "boom", ORDER: 20, STAGE: "pre", CATEGORY: ["file"],
  start(ctx) {
    if (ctx.target.filename.startsWith("boom")) explode(ctx.target.filename);
    return { fine: true };
  },
});
function explode(name) { throw new Error("boom plugin refused " + name); }`;

const COUNT_EVENTS = `import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
export default (api) => ({
  kind: "processor", NAME: "count_events", KEY: "count_events", ORDER: 10, STAGE: "post", CATEGORY: ["file", "url"],
  start(ctx) {
    const dir = join(ctx.taskDir, "events");
    let events = 0;
    for (const f of readdirSync(dir)) events += readFileSync(join(dir, f), "utf8").split("\\n").filter(Boolean).length;
    // 10 (known bad) so the score does not depend on what the built-in signatures add.
    if (events >= 3) ctx.signatures.add({ name: "busy", short_description: "many events", score: 10, family: "busyfam" });
    return { events, pcap: existsSync(join(ctx.taskDir, "dump.pcap")), platform_of_pre: ctx.pre?.target?.platforms };
  },
});`;

beforeAll(() => {
  H = tempHome("falc-e2e-process-");
  S = join(H.home, "samples");
  mkdirSync(S);
  writeFileSync(join(S, "hello.c"), '#include <stdio.h>\nint main(void){puts("hello from falc");return 0;}\n');
  const cc = Bun.spawnSync(["gcc", "-O1", "-o", join(S, "hello"), join(S, "hello.c")]);
  if (cc.exitCode !== 0) throw new Error(`gcc failed: ${cc.stderr}`);
  writeFileSync(join(S, "notes.txt"), "meeting notes\nnothing to see here\n");
  writeFileSync(join(S, "evil.txt"), "prefix EVIL_MARKER suffix\n");
  writeFileSync(join(S, "boom.txt"), "this one makes the boom plugin throw\n");
  const z = Bun.spawnSync(["zip", "-q", "-j", join(S, "bundle.zip"), join(S, "notes.txt"), join(S, "hello")]);
  if (z.exitCode !== 0) throw new Error(`zip failed: ${z.stderr}`);
  P = {
    score9: dir("p-score9", { "score9.ts": SCORE9 }),
    boom: dir("p-boom", { "boom.js": BOOM }),
    dup: dir("p-dup", { "a.ts": SCORE9, "b.ts": SCORE9.replace('NAME: "ci_marker"', 'NAME: "other"') }),
    post: dir("p-post", { "count.ts": COUNT_EVENTS }),
  };
});
afterAll(() => H.cleanup());

describe("falc process", () => {
  test("an ELF built with gcc: type, hashes, platform, and the Cuckoo3 directory layout", async () => {
    const elf = join(S, "hello");
    expect(Bun.spawnSync(["readelf", "-h", elf]).stdout.toString()).toContain("ELF64");
    const r = await runFalc(["process", elf, "--json"], { env: env() });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.analysis_id).toMatch(/^\d{8}-[A-Z0-9]{6}$/);
    expect(s.state).toBe("tasks_pending");
    expect(s.target).toMatchObject({ filename: "hello", sha256: sha256sum(elf) });
    expect(s.target.filetype).toMatch(/^ELF/);
    expect(s.target.platforms.map((p: { platform: string }) => p.platform)).toEqual(["linux"]);
    expect(s.target.size).toBe(Bun.file(elf).size);
    const d = s.paths.dir;
    expect(d).toBe(join(H.home, "storage/analyses", s.analysis_id.slice(0, 8), s.analysis_id.slice(9)));
    for (const f of ["analysis.json", "identification.json", "pre.json", "report.html", "task_1/task.json"]) expect(existsSync(join(d, f))).toBe(true);
    expect(lstatSync(join(d, "binary")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(d, "binary")).equals(readFileSync(elf))).toBe(true);
    const sha = s.target.sha256;
    expect(existsSync(join(H.home, "storage/binaries", sha[0], sha[1], sha))).toBe(true);
    const analysis = JSON.parse(readFileSync(join(d, "analysis.json"), "utf8"));
    expect(analysis).toMatchObject({ id: s.analysis_id, kind: "standard", state: "tasks_pending", category: "file", submitted: { category: "file", filename: "hello" }, tasks: [{ id: `${s.analysis_id}_1`, state: "pending" }] });
    for (const k of ["settings", "created_on", "errors", "families", "tags", "ttps", "score", "target"]) expect(analysis).toHaveProperty(k);
    const ident = JSON.parse(readFileSync(join(d, "identification.json"), "utf8"));
    for (const k of ["identified", "selected", "category", "target", "ignored", "errors"]) expect(ident).toHaveProperty(k);
    expect(JSON.parse(readFileSync(join(d, "task_1/task.json"), "utf8"))).toMatchObject({ id: `${s.analysis_id}_1`, analysis_id: s.analysis_id, state: "pending", platform: "linux" });

    const text = await runFalc(["process", "show", s.analysis_id], { env: env() });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`sha256     ${sha}`);
    expect(text.stdout).toMatch(/^type {7}ELF/m);
    expect(text.stdout).toContain("score      0 (no signatures)");
    // The scratch directory of the local run is gone.
    expect(readdirSync(join(H.home, "run/work"))).toEqual([]);
  });

  test("a text file and a zip made here, in one call", async () => {
    const r = await runFalc(["process", join(S, "notes.txt"), join(S, "bundle.zip"), "--json"], { env: env() });
    expect(r.code).toBe(0);
    const [txt, zip] = JSON.parse(r.stdout);
    expect(txt.target).toMatchObject({ filename: "notes.txt", media_type: "text/plain", sha256: sha256sum(join(S, "notes.txt")) });
    expect(txt.target.filetype).toMatch(/text/i);
    const submitted = JSON.parse(readFileSync(join(zip.paths.dir, "analysis.json"), "utf8")).submitted;
    const md5sum = Bun.spawnSync(["md5sum", join(S, "bundle.zip")]).stdout.toString().split(" ")[0];
    expect(submitted).toMatchObject({ filename: "bundle.zip", sha256: sha256sum(join(S, "bundle.zip")), md5: md5sum });
    if (zip.target.extrpath?.length) {
      // An identifier that unpacks archives selected the executable inside (plugins/identification).
      expect(zip.target).toMatchObject({ filename: "hello", extrpath: ["hello"], sha256: sha256sum(join(S, "hello")) });
    } else {
      // The framework's fallback identifier does not unpack: the zip itself is the target.
      expect(zip.target).toMatchObject({ filename: "bundle.zip", sha256: sha256sum(join(S, "bundle.zip")) });
      expect(zip.target.filetype).toMatch(/zip/i);
    }
    expect(txt.tasks).toHaveLength(1);
    // No platform identified for text: Cuckoo3's default platform.
    expect(txt.tasks[0]).toMatchObject({ platform: "windows", os_version: "10", state: "pending" });
  });

  test("--platform overrides; bad input is a usage error with one line", async () => {
    const r = await runFalc(["process", join(S, "notes.txt"), "--platform", "linux:12", "--platform", "windows", "--json"], { env: env() });
    expect(JSON.parse(r.stdout).tasks.map((t: { platform: string; os_version: string }) => `${t.platform}/${t.os_version}`)).toEqual(["linux/12", "windows/"]);
    const bad = await runFalc(["process", join(S, "notes.txt"), "--platform", "win dows"], { env: env() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^falc: --platform must be/);
    const before = count();
    const missing = await runFalc(["process", join(S, "nope.bin")], { env: env() });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`falc: ${join(S, "nope.bin")}: no such file`);
    // Checked before anything is stored.
    expect(count()).toBe(before);
    // Beside a good file: reported, and the good one goes on (exit 1).
    const mixed = await runFalc(["process", join(S, "notes.txt"), join(S, "nope.bin")], { env: env() });
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain(`falc: ${join(S, "nope.bin")}: no such file (skipped; the other inputs go on)`);
    expect(count()).toBe(before + 1);
    const ftp = await runFalc(["process", "ftp://example.test/x"], { env: env() });
    expect(ftp.code).toBe(2);
    expect(ftp.stderr).toContain("only http and https");
  });

  test("a URL is analysed as a url category", async () => {
    const r = await runFalc(["process", "http://example.test/landing?id=1", "--json"], { env: env() });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.category).toBe("url");
    expect(s.target).toMatchObject({ url: "http://example.test/landing?id=1" });
    expect(s.state).toBe("tasks_pending");
  });

  test("--plugin-dir: a user plugin loaded by the compiled binary adds a score-9 signature; --fail-score decides the exit", async () => {
    const evil = join(S, "evil.txt");
    const over = await runFalc(["process", evil, "--plugin-dir", P.score9!, "--fail-score", "8"], { env: env() });
    expect(over.code).toBe(1);
    expect(over.stdout).toContain("score      9 (malicious)");
    expect(over.stdout).toMatch(/ 9  ci_marker  the CI marker string is present/);
    expect(over.stderr).toMatch(/falc: analysis \S+ scored 9 \(malicious\), over --fail-score 8/);
    const at = await runFalc(["process", evil, "--plugin-dir", P.score9!, "--fail-score", "9", "--json"], { env: env() });
    expect(at.code).toBe(0);
    const s = JSON.parse(at.stdout);
    expect(s.score).toBe(9);
    expect(s.families).toEqual(["testfam"]);
    expect(s.signatures[0]).toMatchObject({ name: "ci_marker", score: 9, stage: "pre" });
    const pre = JSON.parse(readFileSync(join(s.paths.dir, "pre.json"), "utf8"));
    expect(pre.ci_marker).toEqual({ hit: true });
    expect(pre.signatures[0].iocs).toEqual(["EVIL_MARKER"]);
    const html = readFileSync(join(s.paths.dir, "report.html"), "utf8");
    expect(html).toContain("ci_marker");
    const clean = await runFalc(["process", join(S, "notes.txt"), "--plugin-dir", P.score9!, "--fail-score", "0"], { env: env() });
    expect(clean.code).toBe(0);
    // The same directory through the environment, as workers get it.
    const viaEnv = await runFalc(["process", evil, "--fail-score", "8"], { env: { ...env(), FALC_PLUGIN_DIR: P.score9! } });
    expect(viaEnv.code).toBe(1);
    const bad = await runFalc(["process", evil, "--fail-score", "11"], { env: env() });
    expect(bad.code).toBe(2);
  });

  test("many files over two processes (process.local_processes: 2): one summary per file in the given order, options and verdict over all; commits through syncfs", async () => {
    const cfg = join(H.home, "lanes.yaml");
    writeFileSync(cfg, "process:\n  local_processes: 2\n");
    const names = ["a.txt", "b.txt", "c.txt", "d.txt"];
    for (const n of names) writeFileSync(join(S, n), `${n} `.repeat(5000));
    const files = [join(S, "hello"), ...names.map((n) => join(S, n)), join(S, "evil.txt"), join(S, "bundle.zip")];
    const before = count();
    const r = await runFalc(["process", "--config", cfg, "--plugin-dir", P.score9!, "--platform", "linux:12", "--fail-score", "8", "--json", ...files], { env: { ...env(), FALC_LOG_LEVEL: "debug" } });
    // evil.txt scores 9: whichever process ran it, the verdict covers every file.
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { target: { filename: string }; score: number; state: string; tasks: { platform: string; os_version: string }[]; paths: { dir: string } }[];
    expect(out.map((s) => s.target.filename)).toEqual(["hello", ...names, "evil.txt", out[6]!.target.filename]);
    expect(out.find((s) => s.target.filename === "evil.txt")!.score).toBe(9);
    for (const s of out) {
      expect(s.state).toBe("tasks_pending");
      expect(s.tasks).toEqual([expect.objectContaining({ platform: "linux", os_version: "12" })]);
      expect(existsSync(join(s.paths.dir, "pre.json"))).toBe(true);
    }
    expect(count()).toBe(before + files.length);
    const logs = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    expect(logs.find((l) => l.event === "process_lanes")).toMatchObject({ lanes: 2 });
    // One line per process: syncfs through libc in the compiled binary, no fallback fsyncs.
    const commits = logs.filter((l) => l.event === "storage_commits");
    expect(commits).toHaveLength(2);
    for (const c of commits) {
      expect(c.commits).toBeGreaterThan(0);
      expect(c.syncfs.ffi).toBeGreaterThan(0);
      expect(c.fallbackFsyncs).toBe(0);
    }
    expect(r.stderr).toContain("scored 9 (malicious), over --fail-score 8");
    expect(readdirSync(join(H.home, "storage/analyses/.staging"))).toEqual([]);
  });

  test("a duplicate KEY in the plugin directories is refused before anything is stored", async () => {
    const before = count();
    const r = await runFalc(["process", join(S, "notes.txt"), "--plugin-dir", P.dup!], { env: env() });
    expect(count()).toBe(before);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("duplicate KEY `ci_marker` in stage pre");
    expect(r.stderr).toContain(join(P.dup!, "a.ts"));
    expect(r.stderr).toContain(join(P.dup!, "b.ts"));
  });

  test("a throwing plugin: fatal_error with the error and its traceback recorded, exit 1, no stack on the terminal", async () => {
    const r = await runFalc(["process", join(S, "boom.txt"), "--plugin-dir", P.boom!], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("fatal_error");
    expect(r.stdout).toContain("fatal      plugin boom failed: boom plugin refused boom.txt");
    expect(r.stdout).not.toMatch(/^\s+at /m);
    expect(r.stderr).toContain("failed: plugin boom failed: boom plugin refused boom.txt");
    const id = r.stdout.match(/^analysis\s+(\S+)/m)![1]!;
    const show = await runFalc(["process", "show", id, "--json"], { env: env() });
    expect(show.code).toBe(1);
    const s = JSON.parse(show.stdout);
    expect(s.state).toBe("fatal_error");
    expect(s.errors.fatal[0].error).toBe("plugin boom failed: boom plugin refused boom.txt");
    expect(s.errors.fatal[0].traceback).toContain("explode");
    expect(s.errors.fatal[0].traceback).toContain(join(P.boom!, "boom.js"));
    expect(s.tasks).toEqual([]);
  });

  test("falc process show: ids are checked; an unknown analysis is not found", async () => {
    const bad = await runFalc(["process", "show", "../../etc"], { env: env() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not an analysis id");
    const none = await runFalc(["process", "show", "20200101-AAAAAA"], { env: env() });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no analysis 20200101-AAAAAA");
  });

  test("falc process post: collected JSON-lines events and a pcap run through post plugins; the analysis finishes", async () => {
    const r = await runFalc(["process", join(S, "hello"), "--json"], { env: env() });
    const id = JSON.parse(r.stdout).analysis_id;
    const collected = dir("collected1", {});
    mkdirSync(join(collected, "events"));
    // Events in the behaviour schema of plugins/post (src/process/analyze/events.ts).
    writeFileSync(join(collected, "events", "procs.json"), '{"ts":0.1,"type":"process","action":"create","pid":100,"ppid":1,"image":"/tmp/hello"}\n{"ts":0.2,"type":"process","action":"create","pid":101,"ppid":100,"image":"/bin/sh"}\n');
    writeFileSync(join(collected, "events", "files.json"), '{"ts":0.3,"type":"file","action":"write","pid":101,"path":"/tmp/dropped"}\n');
    writeFileSync(join(collected, "dump.pcap"), new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]));
    const post = await runFalc(["process", "post", id, "--task-dir", collected, "--plugin-dir", P.post!, "--json", "--fail-score", "10"], { env: env() });
    expect(post.stderr).toBe("");
    expect(post.code).toBe(0);
    const s = JSON.parse(post.stdout);
    expect(s.state).toBe("finished");
    expect(s.tasks[0]).toMatchObject({ id: `${id}_1`, state: "reported", score: 10 });
    expect(s.score).toBe(10);
    expect(s.families).toContain("busyfam");
    const taskDir = join(s.paths.dir, "task_1");
    const report = JSON.parse(readFileSync(join(taskDir, "report.json"), "utf8"));
    expect(report).toMatchObject({ task_id: `${id}_1`, count_events: { events: 3, pcap: true }, errors: { fatal: [] } });
    expect(report.count_events.platform_of_pre.map((p: { platform: string }) => p.platform)).toEqual(["linux"]);
    expect(report.score).toBe(10);
    expect(existsSync(join(taskDir, "events", "procs.json"))).toBe(true);
    expect(existsSync(join(taskDir, "dump.pcap"))).toBe(true);
    expect(existsSync(join(taskDir, "report.html"))).toBe(true);
    expect(JSON.parse(readFileSync(join(taskDir, "task.json"), "utf8"))).toMatchObject({ state: "reported", score: 10 });
    // The analysis page is rebuilt by the post: the overall verdict and a link to the task's report.
    const page = readFileSync(s.paths.report_html, "utf8");
    expect(s.paths.report_html).toBe(join(s.paths.dir, "report.html"));
    expect(page).toContain('<span class="score big bad">10</span> known bad');
    expect(page).toContain(`<a href="task_1/report.html">${id}_1</a>`);
    expect(page).toContain("reported");
    // A damaged capture: one error per run, named once ("network: ..."), not piled up over posts.
    const cut = dir("collected-cut", {});
    mkdirSync(join(cut, "events"));
    writeFileSync(join(cut, "events", "procs.json"), '{"ts":0.1,"type":"process","action":"create","pid":100,"ppid":1,"image":"/tmp/hello"}\n');
    writeFileSync(join(cut, "dump.pcap"), new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 1, 2, 3]));
    for (let i = 0; i < 2; i++) {
      const again = await runFalc(["process", "post", id, "--task-dir", cut], { env: env() });
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`report     ${join(s.paths.dir, "report.html")}`);
      const errors = JSON.parse(readFileSync(join(taskDir, "task.json"), "utf8")).errors.errors as string[];
      expect(errors).toEqual(["network: dump.pcap ends in a damaged or cut-off record; the packets before it were used"]);
    }
    const over = await runFalc(["process", "post", id, "--task-dir", collected, "--plugin-dir", P.post!, "--fail-score", "9"], { env: env() });
    expect(over.code).toBe(1);
    expect(over.stderr).toContain(`task ${id}_1 scored 10, over --fail-score 9`);

    const badDir = dir("collected2", { "x.json": '{"kind":"process"}\n{oops}\n' });
    const bad = await runFalc(["process", "post", id, "--task-dir", badDir], { env: env() });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(new RegExp(`^falc: ${join(badDir, "x.json")}:2: not JSON`));
    const noTask = await runFalc(["process", "post", id, "--task", "2", "--task-dir", collected], { env: env() });
    expect(noTask.code).toBe(2);
    expect(noTask.stderr).toContain(`has no task 2`);
  });

  test("falc process post picks a task when there are several", async () => {
    const r = await runFalc(["process", join(S, "notes.txt"), "--platform", "windows:10", "--platform", "windows:11", "--json"], { env: env() });
    const id = JSON.parse(r.stdout).analysis_id;
    const collected = dir("collected3", { "a.json": '{"kind":"x"}\n' });
    const which = await runFalc(["process", "post", id, "--task-dir", collected], { env: env() });
    expect(which.code).toBe(2);
    expect(which.stderr).toContain("has 2 tasks; pick one with --task N: 1 (windows 10), 2 (windows 11)");
    const two = await runFalc(["process", "post", id, "--task", "2", "--task-dir", collected, "--json"], { env: env() });
    expect(two.code).toBe(0);
    const s = JSON.parse(two.stdout);
    expect(s.tasks.map((t: { state: string }) => t.state)).toEqual(["pending", "reported"]);
    expect(s.state).toBe("tasks_pending");
  });

  test("YARA through libyara in the compiled binary: modules, iterators and offsets as `yara -s` gives them; a bad file in rules_dirs is left out", async () => {
    const rules = dir("yara-rules", {
      "elf.yar": `import "elf"
import "math"
rule Falc_Hello : demo { meta: score = 9 strings: $h = "hello" $r = /l+o/ condition: elf.type == elf.ET_DYN and for any s in elf.dynsym : (s.name == "puts") and #h >= 1 and !r[1] >= 2 and math.entropy(0, filesize) > 0 }`,
      "broken.yar": "rule broken {\n  condition:\n    $nope and true\n}\n",
    });
    const cfg = join(H.home, "yara.yaml");
    writeFileSync(cfg, `process:\n  plugins:\n    yara: { rules_dirs: [${rules}], builtin: false }\n`);
    const r = await runFalc(["process", "--config", cfg, join(S, "hello"), "--json"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`yara: rule file ${join(rules, "broken.yar")} left out: ${join(rules, "broken.yar")}:3: undefined string "$nope"`);
    const s = JSON.parse(r.stdout);
    const pre = JSON.parse(readFileSync(join(s.paths.dir, "pre.json"), "utf8"));
    const ref = Bun.spawnSync(["yara", "-s", join(rules, "elf.yar"), join(S, "hello")]).stdout.toString().trim().split("\n");
    expect(ref[0]).toBe(`Falc_Hello ${join(S, "hello")}`);
    const m = pre.yara.matches;
    expect(m.map((x: { rule: string }) => x.rule)).toEqual(["Falc_Hello"]);
    expect(m[0].strings.map((x: { id: string; offset: number; data: string }) => `0x${x.offset.toString(16)}:${x.id}: ${x.data}`)).toEqual(ref.slice(1));
    expect(pre.yara.disabled_rule_files.map((d: { file: string }) => d.file)).toEqual([join(rules, "broken.yar")]);
    expect(s.score).toBe(9);

    // Without libyara the plugin leaves itself out with one line saying why; processing goes on.
    const no = await runFalc(["process", "--config", cfg, join(S, "hello"), "--json"], { env: { ...env(), FALC_LIBYARA: "/nonexistent/libyara.so.9", FALC_LOG_LEVEL: "info" } });
    expect(no.code).toBe(0);
    expect(no.stderr).toMatch(/"plugin":"yara","reason":"\/nonexistent\/libyara.so.9 cannot be loaded .*install Debian's libyara9","msg":"plugin yara disabled"/);
    expect(existsSync(join(JSON.parse(no.stdout).paths.dir, "pre.json"))).toBe(true);
  });

  test("a batch with an empty and a missing file: both reported, the others processed, exit 1; a file name that is not UTF-8", async () => {
    const d = dir("batch-bad", { "ok.txt": "fine text\n", "empty.bin": "" });
    const r = await runFalc(["process", join(d, "ok.txt"), join(d, "empty.bin"), join(d, "missing.bin"), "--json"], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`falc: ${join(d, "empty.bin")}: the file is empty, there is nothing to analyse (skipped; the other inputs go on)`);
    expect(r.stderr).toContain(`falc: ${join(d, "missing.bin")}: no such file (skipped; the other inputs go on)`);
    const out = JSON.parse(r.stdout);
    expect(out.map((x: { target?: { filename: string }; input?: string }) => x.target?.filename ?? x.input)).toEqual(["ok.txt", join(d, "empty.bin"), join(d, "missing.bin")]);
    expect(out[0].state).toBe("tasks_pending");
    // Alone, an empty file is still a usage error.
    expect((await runFalc(["process", join(d, "empty.bin")], { env: env() })).code).toBe(2);
    // The shell passes the raw bytes (argv strings cannot carry them).
    const p = Bun.spawnSync(["sh", "-c", `printf 'payload\\n' > "$(printf 'b\\377\\376d.bin')" && exec "$FALC" process "$(printf 'b\\377\\376d.bin')" --json`], { cwd: d, env: { ...process.env, ...env(), FALC } });
    expect(p.exitCode).toBe(0);
    const s = JSON.parse(p.stdout.toString());
    expect(s.target.filename).toBe("b\\xff\\xfed.bin");
    expect(s.target.sha256).toBe(new Bun.CryptoHasher("sha256").update("payload\n").digest("hex"));
    expect(s.target.size).toBe(8);
  });

  test("--help has examples", async () => {
    for (const cmd of [["process"], ["process", "show"], ["process", "post"]]) {
      const r = await runFalc([...cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Examples");
    }
  });
});
