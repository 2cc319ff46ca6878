// The durable-write helper reports a directory it cannot flush instead of swallowing the error.
// The failure is real: a process that is not root writes into a directory it may write but not
// read (mode 733, a drop box), so the rename works and opening the directory to fsync it fails.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, skipUnless } from "../../test/skip.ts";
import { fsyncDir, fsyncDirBestEffort, writeFileAtomic } from "./atomic.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-atomic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run `code` (with the atomic helpers imported) as user nobody; its stdout parsed as JSON. */
function asNobody(code: string): unknown {
  const atomic = JSON.stringify(join(import.meta.dir, "atomic.ts"));
  const r = Bun.spawnSync(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", process.execPath, "-e", `const { writeFileAtomic, fsyncDirBestEffort } = await import(${atomic}); ${code}`], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`child failed (${r.exitCode}): ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString());
}

describe("atomic writes", () => {
  test("a file is written whole and its directory flushed; a missing directory is an error, not a no-op", () => {
    writeFileAtomic(join(dir, "a"), "content");
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("content");
    expect(() => fsyncDir(join(dir, "missing"))).toThrow(/ENOENT/);
  });

  skipUnless(isRoot, "not root")("a directory that cannot be flushed is reported: writeFileAtomic throws after the rename, fsyncDirBestEffort says the consequence", () => {
    const box = join(dir, "dropbox");
    chmodSync(dir, 0o711);
    mkdirSync(box);
    chmodSync(box, 0o733);
    const r = asNobody(`
      const out = {};
      try { writeFileAtomic(${JSON.stringify(join(box, "f"))}, "data"); out.threw = null; } catch (e) { out.threw = e.code + " " + e.message; }
      const reports = [];
      out.ok = fsyncDirBestEffort(${JSON.stringify(box)}, (m) => reports.push(m));
      out.reports = reports;
      console.log(JSON.stringify(out));
    `) as { threw: string | null; ok: boolean; reports: string[] };
    expect(r.threw).toMatch(/^EACCES /);
    // The directory itself could not be opened, not the temp file: the write got as far as the rename.
    expect(r.threw).toContain(`open '${box}'`);
    // The rename had happened: the data is there, only its durability is in doubt, and that is what is said.
    expect(readFileSync(join(box, "f"), "utf8")).toBe("data");
    expect(r.ok).toBe(false);
    expect(r.reports).toHaveLength(1);
    expect(r.reports[0]).toContain(`could not flush directory ${box}`);
    expect(r.reports[0]).toContain("may not survive a crash");
  });
});
