import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { badPath, compareStatus, differingDirs, dirDigests, Excluder, TreeScanner, treeDigest, type FileStatus } from "./integrity.ts";

const tmp = mkdtempSync(join(tmpdir(), "falc-sync-int-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const f = (path: string, hash: string, mode = 0o644, kind: FileStatus["kind"] = "f"): FileStatus => ({ path, kind, size: hash.length, mode, mtime: 1, hash: kind === "f" ? hash.padEnd(64, "0") : "" });

describe("integrity", () => {
  test("network paths: traversal, absolute, empty or odd segments refused", () => {
    for (const p of ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "", "a\\..\\b", "a\0b", "a/" + "x".repeat(300)]) expect(badPath(p)).not.toBeNull();
    for (const p of ["a", "a/b/c.txt", ".hidden", "..foo", "a/...", "über/ß"]) expect(badPath(p)).toBeNull();
  });

  test("compare: missing, shared (content, mode or kind differ) and extra; symlinks never synced", () => {
    const master = new Map([f("same", "1"), f("changed", "2"), f("mode", "3", 0o600), f("new", "4"), f("dir", "", 0o755, "d"), f("kind", "", 0o755, "d"), f("mlink", "", 0, "l")].map((x) => [x.path, x]));
    const worker = new Map([f("same", "1"), f("changed", "X"), f("mode", "3", 0o644), f("old", "5"), f("dir", "", 0o755, "d"), f("kind", "6"), f("wlink", "", 0, "l")].map((x) => [x.path, x]));
    const d = compareStatus(master, worker);
    expect(d.missing.map((x) => x.path).sort()).toEqual(["new"]);
    expect(d.shared.map((x) => x.path).sort()).toEqual(["changed", "kind", "mode"]);
    expect(d.extra.map((x) => x.path).sort()).toEqual(["old", "wlink"]);
  });

  test("scan hashes with BLAKE2b-256 and rehashes only when size or mtime changed", async () => {
    const root = join(tmp, "scan");
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "a"), "alpha");
    writeFileSync(join(root, "sub", "b"), "beta");
    writeFileSync(join(root, "x.tmp"), "ignored");
    mkdirSync(join(root, ".git"));
    writeFileSync(join(root, ".git", "HEAD"), "ignored");
    symlinkSync("/etc/passwd", join(root, "link"));
    chmodSync(join(root, "sub"), 0o750);
    // Settled files (written a while ago): the racy rule below keeps no hash of a file changed just now.
    const past = new Date(Date.now() - 60_000);
    for (const p of ["a", "sub/b"]) utimesSync(join(root, p), past, past);
    const cache = join(tmp, "cache.json");
    const s = new TreeScanner(root, new Excluder(["*.tmp", ".git"]), cache);
    const r1 = await s.scan();
    expect([...r1.files.keys()].sort()).toEqual(["a", "link", "sub", "sub/b"]);
    const h = new Bun.CryptoHasher("blake2b256");
    h.update("alpha");
    expect(r1.files.get("a")!.hash).toBe(h.digest("hex"));
    expect(r1.files.get("sub")!.mode).toBe(0o750);
    expect(r1.files.get("link")!.kind).toBe("l");
    expect(r1.hashed).toBe(2);
    s.saveCache();

    // Unchanged: no hashing at all, also for a new scanner reading the saved cache.
    expect((await s.scan()).hashed).toBe(0);
    const s2 = new TreeScanner(root, new Excluder(["*.tmp", ".git"]), cache);
    expect((await s2.scan()).hashed).toBe(0);

    // Same size and mtime but new content: not rehashed (that is the contract); a new mtime is.
    writeFileSync(join(root, "a"), "ALPHA");
    utimesSync(join(root, "a"), new Date(), r1.files.get("a")!.mtime / 1000);
    const r3 = await s.scan();
    utimesSync(join(root, "a"), new Date(), new Date(Date.now() + 5000));
    const r4 = await s.scan();
    expect(r4.hashed).toBe(1);
    expect(r4.files.get("a")!.hash).not.toBe(r1.files.get("a")!.hash);
    expect(r3.hashed + r4.hashed).toBeGreaterThanOrEqual(1);
    expect(treeDigest(r4.files.values())).not.toBe(treeDigest(r1.files.values()));
  });

  test("a file changed within the last 2 s is hashed again on the next walk: a same-size rewrite in the same timestamp tick is seen", async () => {
    const root = join(tmp, "racy");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "a"), "one");
    const s = new TreeScanner(root, new Excluder([]));
    const r1 = await s.scan();
    const { mtimeMs } = statSync(join(root, "a"));
    writeFileSync(join(root, "a"), "two");
    utimesSync(join(root, "a"), new Date(), mtimeMs / 1000); // as if the clock had not moved
    const r2 = await s.scan();
    expect(r2.hashed).toBe(1);
    expect(r2.files.get("a")!.hash).not.toBe(r1.files.get("a")!.hash);
  });

  test("names the worker refuses are left out and named: backslash, not UTF-8, fifos", async () => {
    const root = join(tmp, "refused");
    mkdirSync(join(root, "d"), { recursive: true });
    writeFileSync(join(root, "ok"), "fine");
    writeFileSync(join(root, "back\\slash.txt"), "refused");
    writeFileSync(Buffer.from(`${root}/d/caf\xe9`, "latin1"), "latin-1 name");
    expect(Bun.spawnSync(["mkfifo", join(root, "pipe")]).exitCode).toBe(0);
    const r = await new TreeScanner(root, new Excluder([])).scan();
    expect([...r.files.keys()].sort()).toEqual(["d", "ok"]);
    expect(r.refused.map((x) => x.path).sort()).toEqual(["back\\slash.txt", "d/caf\\xe9", "pipe"]);
    expect(r.refused.find((x) => x.path === "d/caf\\xe9")!.why).toMatch(/UTF-8/);
    expect(r.refused.find((x) => x.path === "pipe")!.why).toMatch(/fifo/);
  });

  test("directory digests point at exactly the directories that differ", () => {
    const a = [f("x", "1"), f("d", "", 0o755, "d"), f("d/y", "2"), f("d/e", "", 0o755, "d"), f("d/e/z", "3"), f("u", "", 0o755, "d"), f("u/v", "4")];
    const b = [f("x", "1"), f("d", "", 0o755, "d"), f("d/y", "CHANGED"), f("d/e", "", 0o755, "d"), f("d/e/z", "3"), f("w", "", 0o755, "d"), f("w/q", "5")];
    const diff = differingDirs(dirDigests(a), dirDigests(b));
    // d (y changed), the root (u gone, w new), u and w themselves; d/e is untouched.
    expect(diff).toEqual(["", "d", "u", "w"]);
    expect(differingDirs(dirDigests(a), dirDigests([...a]))).toEqual([]);
  });

  test("exclude patterns: basename at any depth without a slash, whole path with one", () => {
    const e = new Excluder(["*.swp", "logs/*.log", "cache"]);
    expect(e.excluded("a/b/x.swp", "x.swp")).toBe(true);
    expect(e.excluded("logs/a.log", "a.log")).toBe(true);
    expect(e.excluded("other/logs/a.log", "a.log")).toBe(false);
    expect(e.excluded("deep/cache", "cache")).toBe(true);
    expect(e.excluded("cached", "cached")).toBe(false);
  });
});
