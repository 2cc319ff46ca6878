import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import fallbackIdentify from "../../plugins/identification/fallback.ts";
import htmlReport from "../../plugins/reporting/html.ts";
import jsonDump from "../../plugins/reporting/json.ts";
import { canRenameNoReplace } from "../core/fs-native.ts";
import { sweepAbandoned } from "./sweep.ts";
import { runIdentification, runPre } from "./flow.ts";
import { analysisDir, analysisPaths, analysesRoot, binariesRoot, binaryPath } from "./layout.ts";
import { type Store, openStore, createAnalysis, readAnalysis, readablePath, storeBinary, updateAnalysis } from "./storage.ts";
import { flowEnv, pluginSet, tempDir } from "../../test/process/testkit.ts";
import { withStageCommit } from "./durable.ts";
import { pluginApi } from "./loader.ts";

const t = tempDir("falc-durable-");
afterAll(() => t.cleanup());

let n = 0;
function input(content: string): string {
  const p = join(t.dir, `in-${n++}.bin`);
  writeFileSync(p, content);
  return p;
}

describe("group commit", () => {
  test("a stage's documents are renamed after one sync of their data, the state after a second, all durable after a third", async () => {
    const store = openStore(join(t.dir, "h-order"));
    const home = store.home;
    const { analysis } = createAnalysis(store, { category: "url", url: "http://x.test/" });
    const paths = analysisPaths(store, analysis.id);
    const env = flowEnv(store, await pluginSet([fallbackIdentify, jsonDump, htmlReport]));
    const steps: string[] = [];
    store.tx.trace = (s) => steps.push(s.replace(paths.dir, "A"));
    try {
      await runIdentification(env, analysis.id);
    } finally {
      store.tx.trace = null;
    }
    expect(steps).toEqual(["sync", "rename A/identification.json", "sync", "rename A/analysis.json", "sync"]);
    expect(readAnalysis(store, analysis.id).state).toBe("pending_pre");
    // Nothing is left under a temporary name.
    expect(readdirSync(paths.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("until the commit a document is only under its temporary name; readers of this process find it there", () => {
    const store = openStore(join(t.dir, "h-pending"));
    const home = store.home;
    mkdirSync(home, { recursive: true });
    const p = join(home, "doc.json");
    writeFileSync(p, "old\n");
    store.tx.writeStageFile(p, "new\n");
    expect(readFileSync(p, "utf8")).toBe("old\n");
    expect(store.tx.pendingPath(p)).not.toBe(p);
    expect(readFileSync(store.tx.pendingPath(p), "utf8")).toBe("new\n");
    expect(store.tx.isWritten(join(home, "other.json"))).toBe(false);
    store.tx.commitNow();
    expect(readFileSync(p, "utf8")).toBe("new\n");
    expect(store.tx.pendingPath(p)).toBe(p);
  });

  test("each store's group commit is its own: one commit publishes its writes only, and a reporter writes into the stage's", async () => {
    const a = openStore(join(t.dir, "h-two-a"));
    const b = openStore(join(t.dir, "h-two-b"));
    const made = await a.tx.inBatch(async () => {
      const x = createAnalysis(a, { category: "url", url: "http://a.test/" }).analysis.id;
      // b commits while a's analysis is staged: a's stays staged, and b cannot see it.
      const y = createAnalysis(b, { category: "url", url: "http://b.test/" }).analysis.id;
      expect(existsSync(analysisDir(b.home, y))).toBe(true);
      expect(existsSync(analysisDir(a.home, x))).toBe(false);
      expect(a.tx.isStaged(analysisDir(a.home, x))).toBe(true);
      expect(b.tx.isStaged(analysisDir(a.home, x))).toBe(false);
      return x;
    });
    expect(readAnalysis(a, made).state).toBe("pending_identification");
    // The plugin API's write goes into the group commit of the stage running it, and nowhere else.
    expect(() => pluginApi.writeFileAtomic(join(t.dir, "loose.html"), "x")).toThrow(/outside a processing stage/);
    const p = join(a.home, "reporter.html");
    withStageCommit(a.tx, () => pluginApi.writeFileAtomic(p, "report"));
    expect(existsSync(p)).toBe(false);
    expect(readFileSync(a.tx.pendingPath(p), "utf8")).toBe("report");
    b.tx.commitNow();
    expect(existsSync(p)).toBe(false);
    a.tx.commitNow();
    expect(readFileSync(p, "utf8")).toBe("report");
  });

  test("a new analysis is built in a staging directory and appears whole, after the binary it links to", async () => {
    const store = openStore(join(t.dir, "h-staged"));
    const home = store.home;
    const steps: string[] = [];
    store.tx.trace = (s) => steps.push(s);
    let made: { id: string; final: string; sha256: string };
    try {
      made = await store.tx.inBatch(async () => {
        const a = createAnalysis(store, { category: "file", path: input("staged sample\n") });
        const final = analysisDir(home, a.analysis.id);
        const live = analysisPaths(store, a.analysis.id).dir;
        // Invisible under analyses/ until the commit; not even an empty directory holds the name
        // where renameat2(RENAME_NOREPLACE) can take it at the commit.
        expect(live).not.toBe(final);
        expect(existsSync(final)).toBe(!canRenameNoReplace());
        expect(existsSync(join(live, "analysis.json"))).toBe(true);
        expect(existsSync(a.binary!.path)).toBe(false);
        expect(readFileSync(readablePath(store, a.binary!.sha256), "utf8")).toBe("staged sample\n");
        expect(steps).toEqual([]);
        return { id: a.analysis.id, final, sha256: a.binary!.sha256 };
      });
    } finally {
      store.tx.trace = null;
    }
    const { id, final, sha256 } = made;
    expect(analysisPaths(store, id).dir).toBe(final);
    expect(readAnalysis(store, id).state).toBe("pending_identification");
    expect(lstatSync(join(final, "binary")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(final, "binary"), "utf8")).toBe("staged sample\n");
    expect(lstatSync(binaryPath(home, sha256)).mode & 0o777).toBe(0o444);
    expect(steps).toEqual(["sync", `rename ${binaryPath(home, sha256)}`, "sync", `publish ${final}`, "sync"]);
    // The staging area is left empty.
    expect(readdirSync(join(analysesRoot(home), ".staging"))).toEqual([]);
  });

  test("a batch commits at its group boundaries and at its end; a throw still commits what was done", async () => {
    const store = openStore(join(t.dir, "h-batch"));
    const home = store.home;
    const ids: string[] = [];
    await expect(
      store.tx.inBatch(async () => {
        ids.push(createAnalysis(store, { category: "url", url: "http://a.test/" }).analysis.id);
        expect(store.tx.groupBoundary(60_000)).toBe(false);
        expect(existsSync(analysisDir(home, ids[0]!) + "/analysis.json")).toBe(false);
        expect(store.tx.groupBoundary(0)).toBe(true);
        expect(existsSync(analysisDir(home, ids[0]!) + "/analysis.json")).toBe(true);
        ids.push(createAnalysis(store, { category: "url", url: "http://b.test/" }).analysis.id);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    for (const id of ids) expect(readAnalysis(store, id).state).toBe("pending_identification");
  });

  test("a write that fails inside a staged analysis leaves it unpublished; the others of the batch are published", async () => {
    const store = openStore(join(t.dir, "h-broken"));
    const home = store.home;
    let good = "";
    let bad = "";
    await expect(
      store.tx.inBatch(async () => {
        good = createAnalysis(store, { category: "url", url: "http://good.test/" }).analysis.id;
        bad = createAnalysis(store, { category: "url", url: "http://bad.test/" }).analysis.id;
        // A directory where the file should go: the write fails (as a full disk would).
        mkdirSync(analysisPaths(store, bad).identificationJson);
        store.tx.writeStageFile(analysisPaths(store, bad).identificationJson, "{}");
      }),
    ).rejects.toThrow();
    expect(readAnalysis(store, good).state).toBe("pending_identification");
    expect(existsSync(analysisDir(home, bad))).toBe(false);
    expect(readdirSync(join(analysesRoot(home), ".staging"))).toEqual([]);
  });

  test("a stage that throws before its commit drops its documents: a later commit cannot publish them", async () => {
    const store = openStore(join(t.dir, "h-discard"));
    const home = store.home;
    const { analysis } = createAnalysis(store, { category: "url", url: "http://x.test/" });
    const p = analysisPaths(store, analysis.id).identificationJson;
    const m = store.tx.mark();
    store.tx.writeStageFile(p, "{}");
    const tmp = store.tx.pendingPath(p);
    store.tx.discardSince(m);
    expect(existsSync(tmp)).toBe(false);
    await updateAnalysis(store, analysis.id, (a) => void a.tags.push("later"));
    expect(existsSync(p)).toBe(false);
    expect(readAnalysis(store, analysis.id).tags).toEqual(["later"]);
  });

  // renameat2(RENAME_NOREPLACE): Linux and ext4/tmpfs have it; without it this must fail, not pass.
  test("an id taken by another process meanwhile is not overwritten: the analysis stays staged and the commit says where", async () => {
    expect(canRenameNoReplace()).toBe(true);
    const store = openStore(join(t.dir, "h-collide"));
    const home = store.home;
    let id = "";
    await expect(
      store.tx.inBatch(async () => {
        id = createAnalysis(store, { category: "url", url: "http://x.test/" }).analysis.id;
        mkdirSync(analysisDir(home, id));
        writeFileSync(join(analysisDir(home, id), "analysis.json"), "someone else's");
      }),
    ).rejects.toThrow(/was taken meanwhile; this analysis is left in .*\.staging/);
    expect(readFileSync(join(analysisDir(home, id), "analysis.json"), "utf8")).toBe("someone else's");
  });

  test("without syncfs and renameat2 (FALC_NO_NATIVE_FS) the same guarantees hold with fsyncs and a reserved directory", async () => {
    const store = openStore(join(t.dir, "h-fallback"));
    const home = store.home;
    const src = input("fallback sample\n");
    const script = join(t.dir, "fallback.ts");
    writeFileSync(
      script,
      `import { createAnalysis, openStore } from ${JSON.stringify(resolve(import.meta.dir, "storage.ts"))};
       import { syncfsStats } from ${JSON.stringify(resolve(import.meta.dir, "../core/fs-native.ts"))};
       const store = openStore(process.argv[2]);
       const ids = await store.tx.inBatch(async () => [1, 2, 3].map(() => createAnalysis(store, { category: "file", path: process.argv[3] }).analysis.id));
       console.log(JSON.stringify({ ids, commitStats: store.tx.stats, syncfsStats }));`,
    );
    // No `sync` either: the fallback of the fallback is an fsync per file and directory.
    const r = Bun.spawnSync([process.execPath, script, home, src], { env: { ...process.env, FALC_NO_NATIVE_FS: "1", PATH: "/nonexistent" }, stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    const out = JSON.parse(r.stdout.toString());
    expect(out.syncfsStats.ffi).toBe(0);
    expect(out.commitStats.fallbackFsyncs).toBeGreaterThan(0);
    for (const id of out.ids) expect(readAnalysis(store, id).state).toBe("pending_identification");
    expect(readdirSync(join(analysesRoot(home), ".staging"))).toEqual([]);
  });

  test("what a killed process left is swept: its staging directories and incoming binaries, not a live one's", () => {
    const store = openStore(join(t.dir, "h-sweep"));
    const home = store.home;
    mkdirSync(binariesRoot(home), { recursive: true });
    const dead = Bun.spawnSync(["true"]).pid;
    const host = require("node:os").hostname();
    const deadRoot = join(analysesRoot(home), ".staging", `${host}-${dead}`);
    const liveRoot = join(analysesRoot(home), ".staging", `${host}-${process.pid}`);
    for (const r of [deadRoot, liveRoot]) mkdirSync(join(r, "20260101-AAAAAA"), { recursive: true });
    writeFileSync(join(binariesRoot(home), `.incoming-${host}-${dead}-abc`), "x");
    writeFileSync(join(binariesRoot(home), `.incoming-${host}-${process.pid}-abc`), "x");
    sweepAbandoned(analysesRoot(home), binariesRoot(home));
    expect(existsSync(deadRoot)).toBe(false);
    expect(existsSync(liveRoot)).toBe(true);
    expect(readdirSync(binariesRoot(home))).toEqual([`.incoming-${host}-${process.pid}-abc`]);
  });

  test("storing the same content twice in a batch writes one copy", async () => {
    const store = openStore(join(t.dir, "h-dup"));
    const home = store.home;
    const a = input("same bytes");
    const b = input("same bytes");
    await store.tx.inBatch(async () => {
      const x = storeBinary(store, a);
      const y = storeBinary(store, b);
      expect(readablePath(store, y.sha256)).toBe(readablePath(store, x.sha256));
    });
    const found = Bun.spawnSync(["find", binariesRoot(home), "-type", "f"]).stdout.toString().trim().split("\n");
    expect(found).toHaveLength(1);
  });
});

describe("crashes", () => {
  /**
   * A child creates and processes analyses in batches and is SIGKILLed at a random moment, several
   * times over the same FALC_HOME: whatever is under analyses/ must be a readable analysis whose
   * state agrees with its files, and no file is ever seen half-written.
   */
  test("kill -9 at random moments: every published analysis is whole and its state matches its files", async () => {
    const store = openStore(join(t.dir, "h-crash"));
    const home = store.home;
    const script = join(t.dir, "crashing.ts");
    const srcs = Array.from({ length: 6 }, (_, i) => input(`crash sample ${i}\n`.repeat(1000 * (i + 1))));
    writeFileSync(
      script,
      `import { createAnalysis, openStore } from ${JSON.stringify(resolve(import.meta.dir, "storage.ts"))};
       import { runIdentification, runPre } from ${JSON.stringify(resolve(import.meta.dir, "flow.ts"))};
       import { flowEnv, pluginSet } from ${JSON.stringify(resolve(import.meta.dir, "../../test/process/testkit.ts"))};
       import fallback from ${JSON.stringify(resolve(import.meta.dir, "../../plugins/identification/fallback.ts"))};
       import json from ${JSON.stringify(resolve(import.meta.dir, "../../plugins/reporting/json.ts"))};
       import html from ${JSON.stringify(resolve(import.meta.dir, "../../plugins/reporting/html.ts"))};
       const [home, ...srcs] = process.argv.slice(2);
       const store = openStore(home);
       const env = flowEnv(store, await pluginSet([fallback, json, html]));
       console.log("ready");
       for (;;) {
         await store.tx.inBatch(async () => {
           for (const s of srcs) {
             const { analysis } = createAnalysis(store, { category: "file", path: s });
             if ((await runIdentification(env, analysis.id)).next === "pre") await runPre(env, analysis.id);
             store.tx.groupBoundary(5);
           }
         });
         // And on published analyses, stage by stage, as a worker does.
         const { analysis } = createAnalysis(store, { category: "file", path: srcs[0] });
         if ((await runIdentification(env, analysis.id)).next === "pre") await runPre(env, analysis.id);
       }`,
    );
    for (let round = 0; round < 5; round++) {
      const p = Bun.spawn([process.execPath, script, home, ...srcs], { stdout: "pipe", stderr: "inherit" });
      const reader = p.stdout.getReader();
      await reader.read();
      await Bun.sleep(150 + Math.floor(Math.random() * 400));
      p.kill("SIGKILL");
      await p.exited;
    }
    const root = analysesRoot(home);
    let checked = 0;
    for (const day of readdirSync(root).filter((d) => /^\d{8}$/.test(d))) {
      for (const part of readdirSync(join(root, day))) {
        const id = `${day}-${part}`;
        const dir = join(root, day, part);
        // Every file under its final name is whole JSON (temps are dot-files ending .tmp).
        for (const f of readdirSync(dir, { recursive: true }) as string[]) {
          if (f.endsWith(".json") && !f.split("/").pop()!.startsWith(".")) expect(() => JSON.parse(readFileSync(join(dir, f), "utf8"))).not.toThrow();
        }
        const a = readAnalysis(store, id);
        expect(readFileSync(join(dir, "binary")).length).toBeGreaterThan(0);
        if (a.state !== "pending_identification") expect(existsSync(join(dir, "identification.json"))).toBe(true);
        if (a.state === "tasks_pending") {
          expect(existsSync(join(dir, "pre.json"))).toBe(true);
          for (const task of a.tasks) expect(existsSync(join(dir, `task_${task.id.split("_")[1]}`, "task.json"))).toBe(true);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
    // The next process clears what the killed ones left in the staging area.
    sweepAbandoned(root, binariesRoot(home));
    expect(existsSync(join(root, ".staging")) ? readdirSync(join(root, ".staging")) : []).toEqual([]);
    expect(readdirSync(binariesRoot(home)).filter((f) => f.startsWith(".incoming"))).toEqual([]);
  }, 60_000);
});
