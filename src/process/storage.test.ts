import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { analysisPaths, binaryPath } from "./layout.ts";
import { type Store, openStore, createAnalysis, readAnalysis, readablePath, storeBinary, updateAnalysis } from "./storage.ts";
import { tempDir } from "../../test/process/testkit.ts";

const t = tempDir("falc-storage-");
afterAll(() => t.cleanup());

const sha256sum = (p: string) => Bun.spawnSync(["sha256sum", p]).stdout.toString().split(" ")[0];

describe("binaries", () => {
  test("a file is stored once under binaries/<h0>/<h1>/<sha256>, read-only, hashes as the coreutils say", () => {
    const store = openStore(join(t.dir, "h1"));
    const home = store.home;
    const src = join(t.dir, "sample.bin");
    writeFileSync(src, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256)));
    const a = storeBinary(store, src);
    // Not under its name before the commit has made it durable; readable meanwhile, stored once.
    expect(existsSync(a.path)).toBe(false);
    expect(readFileSync(readablePath(store, a.sha256)).equals(readFileSync(src))).toBe(true);
    const b = storeBinary(store, src);
    expect(readablePath(store, b.sha256)).toBe(readablePath(store, a.sha256));
    store.tx.commitNow();
    expect(readablePath(store, a.sha256)).toBe(a.path);
    expect(a.sha256).toBe(sha256sum(src)!);
    for (const alg of ["md5", "sha1", "sha512"] as const) expect(a[alg]).toBe(Bun.spawnSync([`${alg}sum`, src]).stdout.toString().split(" ")[0]!);
    expect(a.path).toBe(binaryPath(home, a.sha256));
    expect(b.path).toBe(a.path);
    expect(a.size).toBe(300_000);
    expect(readFileSync(a.path).equals(readFileSync(src))).toBe(true);
    expect(statSync(a.path).mode & 0o777).toBe(0o444);
    // No temp files left behind.
    expect(Bun.spawnSync(["find", join(home, "storage/binaries"), "-name", ".incoming*"]).stdout.toString()).toBe("");
  });
});

describe("analyses", () => {
  test("createAnalysis writes analysis.json and a binary symlink into the store", () => {
    const store = openStore(join(t.dir, "h2"));
    const home = store.home;
    const src = join(t.dir, "hello.txt");
    writeFileSync(src, "hello\n");
    const { analysis, binary } = createAnalysis(store, { category: "file", path: src }, { priority: 3 });
    const p = analysisPaths(store, analysis.id);
    expect(existsSync(p.analysisJson)).toBe(true);
    expect(lstatSync(p.binary).isSymbolicLink()).toBe(true);
    expect(readlinkSync(p.binary).startsWith("../../../binaries/")).toBe(true);
    expect(realpathSync(p.binary)).toBe(realpathSync(binary!.path));
    const back = readAnalysis(store, analysis.id);
    expect(back.state).toBe("pending_identification");
    expect(back.settings.priority).toBe(3);
    expect(back.settings.timeout).toBe(120);
    expect(back.submitted).toMatchObject({ category: "file", filename: "hello.txt", size: 6, sha256: sha256sum(src)! });
    expect(back.errors).toEqual({ errors: [], fatal: [] });
  });

  test("URLs are kept as given (normalised); non-http schemes, empty and odd files are refused", () => {
    const store = openStore(join(t.dir, "h3"));
    const home = store.home;
    const { analysis, binary } = createAnalysis(store, { category: "url", url: "https://Example.COM/a b" });
    expect(binary).toBeNull();
    expect(analysis.submitted).toEqual({ category: "url", url: "https://example.com/a%20b" });
    expect(existsSync(analysisPaths(store, analysis.id).binary)).toBe(false);
    expect(() => createAnalysis(store, { category: "url", url: "file:///etc/passwd" })).toThrow(/only http and https/);
    const empty = join(t.dir, "empty");
    writeFileSync(empty, "");
    expect(() => createAnalysis(store, { category: "file", path: empty })).toThrow(/empty/);
    expect(() => createAnalysis(store, { category: "file", path: t.dir })).toThrow(/not a regular file/);
    expect(() => createAnalysis(store, { category: "file", path: join(t.dir, "nope") })).toThrow(/no such file/);
  });

  test("a missing or damaged analysis.json is a clear error", () => {
    const store = openStore(join(t.dir, "h5"));
    const home = store.home;
    expect(() => readAnalysis(store, "20260101-AAAAAA")).toThrow(/no analysis 20260101-AAAAAA/);
    const { analysis } = createAnalysis(store, { category: "url", url: "http://x.test/" });
    writeFileSync(analysisPaths(store, analysis.id).analysisJson, '{"id": 1');
    expect(() => readAnalysis(store, analysis.id)).toThrow(/not valid JSON/);
    writeFileSync(analysisPaths(store, analysis.id).analysisJson, JSON.stringify({ ...analysis, state: "weird" }));
    expect(() => readAnalysis(store, analysis.id)).toThrow(/key `state`/);
  });

  test("updates from several processes at once are never lost (analysis lock)", async () => {
    const store = openStore(join(t.dir, "h6"));
    const home = store.home;
    const { analysis } = createAnalysis(store, { category: "url", url: "http://x.test/" });
    const script = join(t.dir, "bump.ts");
    writeFileSync(
      script,
      `import { openStore, updateAnalysis } from ${JSON.stringify(resolve(import.meta.dir, "storage.ts"))};
       const [home, id, who] = process.argv.slice(2);
       const store = openStore(home);
       for (let i = 0; i < 25; i++) await updateAnalysis(store, id, (a) => { a.tags.push(who + ":" + i); });`,
    );
    const procs = Array.from({ length: 4 }, (_, i) => Bun.spawn([process.execPath, script, home, analysis.id, `p${i}`], { stdout: "ignore", stderr: "pipe" }));
    const codes = await Promise.all(procs.map((p) => p.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const tags = readAnalysis(store, analysis.id).tags;
    expect(tags.length).toBe(100);
    expect(new Set(tags).size).toBe(100);
    expect(existsSync(analysisPaths(store, analysis.id).analysisJson + ".lock")).toBe(false);
  });

  test("a lock left by a dead process is taken over", async () => {
    const store = openStore(join(t.dir, "h7"));
    const home = store.home;
    const { analysis } = createAnalysis(store, { category: "url", url: "http://x.test/" });
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    writeFileSync(analysisPaths(store, analysis.id).analysisJson + ".lock", `${require("node:os").hostname()} ${dead.pid}`);
    const { analysis: a } = await updateAnalysis(store, analysis.id, (x) => void x.tags.push("ok"));
    expect(a.tags).toEqual(["ok"]);
  });
});
