import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import fallbackIdentify from "../../plugins/identification/fallback.ts";
import htmlReport from "../../plugins/reporting/html.ts";
import jsonDump from "../../plugins/reporting/json.ts";
import { canRenameNoReplace } from "../core/fs-native.ts";
import { commitNow, discardSince, groupBoundary, inBatch, isWritten, mark, pendingPath, traceCommits, writeStageFile } from "./durable.ts";
import { sweepAbandoned } from "./sweep.ts";
import { runIdentification, runPre } from "./flow.ts";
import { analysisDir, analysisPaths, analysesRoot, binariesRoot, binaryPath } from "./layout.ts";
import { createAnalysis, readAnalysis, readablePath, storeBinary, updateAnalysis } from "./storage.ts";
import { flowEnv, pluginSet, tempDir } from "./testkit.ts";

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
    const home = join(t.dir, "h-order");
    const { analysis } = createAnalysis(home, { category: "url", url: "http://x.test/" });
    const paths = analysisPaths(home, analysis.id);
    const env = flowEnv(home, await pluginSet([fallbackIdentify, jsonDump, htmlReport]));
    const steps: string[] = [];
    traceCommits((s) => steps.push(s.replace(paths.dir, "A")));
    try {
      await runIdentification(env, analysis.id);
    } finally {
      traceCommits(null);
    }
    expect(steps).toEqual(["sync", "rename A/identification.json", "sync", "rename A/analysis.json", "sync"]);
    expect(readAnalysis(home, analysis.id).state).toBe("pending_pre");
    // Nothing is left under a temporary name.
    expect(readdirSync(paths.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("until the commit a document is only under its temporary name; readers of this process find it there", () => {
    const home = join(t.dir, "h-pending");
    mkdirSync(home, { recursive: true });
    const p = join(home, "doc.json");
    writeFileSync(p, "old\n");
    writeStageFile(p, "new\n");
    expect(readFileSync(p, "utf8")).toBe("old\n");
    expect(pendingPath(p)).not.toBe(p);
    expect(readFileSync(pendingPath(p), "utf8")).toBe("new\n");
    expect(isWritten(join(home, "other.json"))).toBe(false);
    commitNow();
    expect(readFileSync(p, "utf8")).toBe("new\n");
    expect(pendingPath(p)).toBe(p);
  });

  test("a new analysis is built in a staging directory and appears whole, after the binary it links to", async () => {
    const home = join(t.dir, "h-staged");
    const steps: string[] = [];
    traceCommits((s) => steps.push(s));
    let made: { id: string; final: string; sha256: string };
    try {
      made = await inBatch(async () => {
        const a = createAnalysis(home, { category: "file", path: input("staged sample\n") });
        const final = analysisDir(home, a.analysis.id);
        const live = analysisPaths(home, a.analysis.id).dir;
        // Invisible under analyses/ until the commit; not even an empty directory holds the name
        // where renameat2(RENAME_NOREPLACE) can take it at the commit.
        expect(live).not.toBe(final);
        expect(existsSync(final)).toBe(!canRenameNoReplace());
        expect(existsSync(join(live, "analysis.json"))).toBe(true);
        expect(existsSync(a.binary!.path)).toBe(false);
        expect(readFileSync(readablePath(home, a.binary!.sha256), "utf8")).toBe("staged sample\n");
        expect(steps).toEqual([]);
        return { id: a.analysis.id, final, sha256: a.binary!.sha256 };
      });
    } finally {
      traceCommits(null);
    }
    const { id, final, sha256 } = made;
    expect(analysisPaths(home, id).dir).toBe(final);
    expect(readAnalysis(home, id).state).toBe("pending_identification");
    expect(lstatSync(join(final, "binary")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(final, "binary"), "utf8")).toBe("staged sample\n");
    expect(lstatSync(binaryPath(home, sha256)).mode & 0o777).toBe(0o444);
    expect(steps).toEqual(["sync", `rename ${binaryPath(home, sha256)}`, "sync", `publish ${final}`, "sync"]);
    // The staging area is left empty.
    expect(readdirSync(join(analysesRoot(home), ".staging"))).toEqual([]);
  });

  test("a batch commits at its group boundaries and at its end; a throw still commits what was done", async () => {
    const home = join(t.dir, "h-batch");
    const ids: string[] = [];
    await expect(
      inBatch(async () => {
        ids.push(createAnalysis(home, { category: "url", url: "http://a.test/" }).analysis.id);
        expect(groupBoundary(60_000)).toBe(false);
        expect(existsSync(analysisDir(home, ids[0]!) + "/analysis.json")).toBe(false);
        expect(groupBoundary(0)).toBe(true);
        expect(existsSync(analysisDir(home, ids[0]!) + "/analysis.json")).toBe(true);
        ids.push(createAnalysis(home, { category: "url", url: "http://b.test/" }).analysis.id);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    for (const id of ids) expect(readAnalysis(home, id).state).toBe("pending_identification");
  });

  test("a write that fails inside a staged analysis leaves it unpublished; the others of the batch are published", async () => {
    const home = join(t.dir, "h-broken");
    let good = "";
    let bad = "";
    await expect(
      inBatch(async () => {
        good = createAnalysis(home, { category: "url", url: "http://good.test/" }).analysis.id;
        bad = createAnalysis(home, { category: "url", url: "http://bad.test/" }).analysis.id;
        // A directory where the file should go: the write fails (as a full disk would).
        mkdirSync(analysisPaths(home, bad).identificationJson);
        writeStageFile(analysisPaths(home, bad).identificationJson, "{}");
      }),
    ).rejects.toThrow();
    expect(readAnalysis(home, good).state).toBe("pending_identification");
    expect(existsSync(analysisDir(home, bad))).toBe(false);
    expect(readdirSync(join(analysesRoot(home), ".staging"))).toEqual([]);
  });

  test("a stage that throws before its commit drops its documents: a later commit cannot publish them", async () => {
    const home = join(t.dir, "h-discard");
    const { analysis } = createAnalysis(home, { category: "url", url: "http://x.test/" });
    const p = analysisPaths(home, analysis.id).identificationJson;
    const m = mark();
    writeStageFile(p, "{}");
    const tmp = pendingPath(p);
    discardSince(m);
    expect(existsSync(tmp)).toBe(false);
    await updateAnalysis(home, analysis.id, (a) => void a.tags.push("later"));
    expect(existsSync(p)).toBe(false);
    expect(readAnalysis(home, analysis.id).tags).toEqual(["later"]);
  });

  // renameat2(RENAME_NOREPLACE): Linux and ext4/tmpfs have it; without it this must fail, not pass.
  test("an id taken by another process meanwhile is not overwritten: the analysis stays staged and the commit says where", async () => {
    expect(canRenameNoReplace()).toBe(true);
    const home = join(t.dir, "h-collide");
    let id = "";
    await expect(
      inBatch(async () => {
        id = createAnalysis(home, { category: "url", url: "http://x.test/" }).analysis.id;
        mkdirSync(analysisDir(home, id));
        writeFileSync(join(analysisDir(home, id), "analysis.json"), "someone else's");
      }),
    ).rejects.toThrow(/was taken meanwhile; this analysis is left in .*\.staging/);
    expect(readFileSync(join(analysisDir(home, id), "analysis.json"), "utf8")).toBe("someone else's");
  });

  test("without syncfs and renameat2 (FALC_NO_NATIVE_FS) the same guarantees hold with fsyncs and a reserved directory", async () => {
    const home = join(t.dir, "h-fallback");
    const src = input("fallback sample\n");
    const script = join(t.dir, "fallback.ts");
    writeFileSync(
      script,
      `import { inBatch, commitStats } from ${JSON.stringify(resolve(import.meta.dir, "durable.ts"))};
       import { createAnalysis } from ${JSON.stringify(resolve(import.meta.dir, "storage.ts"))};
       import { syncfsStats } from ${JSON.stringify(resolve(import.meta.dir, "../core/fs-native.ts"))};
       const ids = await inBatch(async () => [1, 2, 3].map(() => createAnalysis(process.argv[2], { category: "file", path: process.argv[3] }).analysis.id));
       console.log(JSON.stringify({ ids, commitStats, syncfsStats }));`,
    );
    // No `sync` either: the fallback of the fallback is an fsync per file and directory.
    const r = Bun.spawnSync([process.execPath, script, home, src], { env: { ...process.env, FALC_NO_NATIVE_FS: "1", PATH: "/nonexistent" }, stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    const out = JSON.parse(r.stdout.toString());
    expect(out.syncfsStats.ffi).toBe(0);
    expect(out.commitStats.fallbackFsyncs).toBeGreaterThan(0);
    for (const id of out.ids) expect(readAnalysis(home, id).state).toBe("pending_identification");
    expect(readdirSync(join(analysesRoot(home), ".staging"))).toEqual([]);
  });

  test("what a killed process left is swept: its staging directories and incoming binaries, not a live one's", () => {
    const home = join(t.dir, "h-sweep");
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
    const home = join(t.dir, "h-dup");
    const a = input("same bytes");
    const b = input("same bytes");
    await inBatch(async () => {
      const x = storeBinary(home, a);
      const y = storeBinary(home, b);
      expect(readablePath(home, y.sha256)).toBe(readablePath(home, x.sha256));
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
    const home = join(t.dir, "h-crash");
    const script = join(t.dir, "crashing.ts");
    const srcs = Array.from({ length: 6 }, (_, i) => input(`crash sample ${i}\n`.repeat(1000 * (i + 1))));
    writeFileSync(
      script,
      `import { inBatch, groupBoundary } from ${JSON.stringify(resolve(import.meta.dir, "durable.ts"))};
       import { createAnalysis } from ${JSON.stringify(resolve(import.meta.dir, "storage.ts"))};
       import { runIdentification, runPre } from ${JSON.stringify(resolve(import.meta.dir, "flow.ts"))};
       import { flowEnv, pluginSet } from ${JSON.stringify(resolve(import.meta.dir, "testkit.ts"))};
       import fallback from ${JSON.stringify(resolve(import.meta.dir, "../../plugins/identification/fallback.ts"))};
       import json from ${JSON.stringify(resolve(import.meta.dir, "../../plugins/reporting/json.ts"))};
       import html from ${JSON.stringify(resolve(import.meta.dir, "../../plugins/reporting/html.ts"))};
       const [home, ...srcs] = process.argv.slice(2);
       const env = flowEnv(home, await pluginSet([fallback, json, html]));
       console.log("ready");
       for (;;) {
         await inBatch(async () => {
           for (const s of srcs) {
             const { analysis } = createAnalysis(home, { category: "file", path: s });
             if ((await runIdentification(env, analysis.id)).next === "pre") await runPre(env, analysis.id);
             groupBoundary(5);
           }
         });
         // And on published analyses, stage by stage, as a worker does.
         const { analysis } = createAnalysis(home, { category: "file", path: srcs[0] });
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
        const a = readAnalysis(home, id);
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
