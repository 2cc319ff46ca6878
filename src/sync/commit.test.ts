import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commitTree, JournalError, recoverTree, resolveOps, stateDir, type CommitInput } from "./commit.ts";
import { Excluder, TreeScanner, treeDigest, type FileStatus } from "./integrity.ts";
import { snapshot } from "../../test/e2e/sync-fuzz.ts";

const tmp = mkdtempSync(join(tmpdir(), "falc-sync-commit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/**
 * A tree with files, a nested dir and an extra dir, plus staged new content for a change set.
 * `flat`: staged files under numbers; `tree`: at their own paths (new directories move whole).
 */
function fixture(layout: "flat" | "tree" = "flat"): { root: string; input: Omit<CommitInput, "failAt" | "crashAt"> } {
  const root = join(tmp, `t${n++}`, "tree");
  mkdirSync(join(root, "keep"), { recursive: true });
  mkdirSync(join(root, "gone", "deeper"), { recursive: true });
  writeFileSync(join(root, "a"), "old a");
  writeFileSync(join(root, "b"), "old b");
  writeFileSync(join(root, "keep", "c"), "old c");
  writeFileSync(join(root, "gone", "deeper", "d"), "old d");
  writeFileSync(join(root, "kind"), "a file where the master has a directory");
  const stage = join(stateDir(root), "staging", "1");
  mkdirSync(stage, { recursive: true });
  const staged = [
    ["a", "new a"],
    ["new", "brand new"],
    ["fresh/x", "in a new dir"],
    ["kind/y", "under the former file"],
    ["keep/c", "new c"],
    ["fresh/sub/z", "two new levels down"],
  ].map(([p, content], i) => {
    const at = join(stage, layout === "tree" ? p! : String(i));
    mkdirSync(join(at, ".."), { recursive: true });
    writeFileSync(at, content!, { mode: 0o640 });
    return { path: p!, staged: at };
  });
  const d = (path: string, mode = 0o755): FileStatus => {
    // The receiver stages every planned directory, empty ones too.
    if (layout === "tree") mkdirSync(join(stage, path), { recursive: true });
    return { path, kind: "d", size: 0, mode, mtime: 0, hash: "" };
  };
  const file = (path: string): FileStatus => ({ path, kind: "f", size: 0, mode: 0o644, mtime: 0, hash: "" });
  const input = {
    root,
    staged,
    dirs: [d("fresh", 0o700), d("fresh/sub", 0o710), d("fresh/empty", 0o705), d("kind"), d("keep", 0o750)],
    remove: [file("b"), file("gone/deeper/d"), d("gone/deeper"), d("gone"), file("kind")],
    masterHas: (p: string) => ["fresh", "fresh/sub", "fresh/empty", "kind", "keep"].includes(p),
    ...(layout === "tree" ? { stagedRoot: stage } : {}),
  };
  return { root, input };
}

async function digest(root: string): Promise<string> {
  return treeDigest((await new TreeScanner(root, new Excluder([])).scan()).files.values());
}

describe.each(["flat", "tree"] as const)("commit (%s staging): staged files into the tree, all or nothing", (layout) => {
  test("a clean commit: files replaced, added, removed, dirs made with their modes", async () => {
    const { root, input } = fixture(layout);
    const st = commitTree(input);
    expect(st.written).toBe(6);
    expect(readFileSync(join(root, "fresh", "sub", "z"), "utf8")).toBe("two new levels down");
    expect(statSync(join(root, "fresh", "sub")).mode & 0o777).toBe(0o710);
    expect(statSync(join(root, "fresh", "empty")).mode & 0o777).toBe(0o705);
    expect(readFileSync(join(root, "a"), "utf8")).toBe("new a");
    expect(readFileSync(join(root, "kind", "y"), "utf8")).toBe("under the former file");
    expect(existsSync(join(root, "b"))).toBe(false);
    expect(existsSync(join(root, "gone"))).toBe(false);
    expect(statSync(join(root, "fresh")).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "keep")).mode & 0o777).toBe(0o750);
    expect(statSync(join(root, "new")).mode & 0o777).toBe(0o640);
    expect(existsSync(join(stateDir(root), "journal.json"))).toBe(false);
    expect(existsSync(join(stateDir(root), "backup"))).toBe(false);
  });

  test("a failure at any step rolls every earlier step back: the tree is exactly as before", async () => {
    const { input } = fixture(layout);
    const total = resolveOps(input).length;
    for (let at = 0; at < total; at++) {
      const { root, input } = fixture(layout);
      const before = await digest(root);
      expect(() => commitTree({ ...input, failAt: at })).toThrow(/injected failure/);
      expect(await digest(root)).toBe(before);
      expect(readFileSync(join(root, "a"), "utf8")).toBe("old a");
    }
  });

  test("a symlinked parent in the worker's tree is refused, and nothing changes", async () => {
    const { root, input } = fixture(layout);
    const outside = join(tmp, "outside");
    mkdirSync(outside, { recursive: true });
    rmSync(join(root, "keep"), { recursive: true });
    symlinkSync(outside, join(root, "keep"));
    const before = await digest(root);
    expect(() => commitTree(input)).toThrow(/symlink/);
    expect(existsSync(join(outside, "c"))).toBe(false);
    expect(await digest(root)).toBe(before);
  });

  test("a commit killed at any step is rolled back from its journal on the next start", async () => {
    const total = resolveOps(fixture(layout).input).length;
    for (let at = 0; at < total; at++) {
      const { root, input } = fixture(layout);
      const before = await digest(root);
      expect(() => commitTree({ ...input, crashAt: at })).toThrow(/simulated crash/);
      expect(existsSync(join(stateDir(root), "journal.json"))).toBe(true);
      expect(recoverTree(root)).toBe(true);
      expect(await digest(root)).toBe(before);
      expect(existsSync(join(stateDir(root), "backup"))).toBe(false);
      expect(recoverTree(root)).toBe(false);
    }
  });

  test("paths with .. in a plan are refused before any step", () => {
    const { root, input } = fixture(layout);
    expect(() => commitTree({ ...input, staged: [{ path: "../evil", staged: input.staged[0]!.staged }] })).toThrow(/refused path/);
    expect(existsSync(join(root, "..", "evil"))).toBe(false);
  });
});

describe("commit: an entry that changes kind on either side", () => {
  /** A tree and a staging tree; `put` files are staged at their own paths. */
  function kindFixture(setup: (root: string) => void, put: Record<string, string>, dirs: string[], remove: FileStatus[]) {
    const root = join(tmp, `k${n++}`, "tree");
    mkdirSync(root, { recursive: true });
    setup(root);
    const stage = join(stateDir(root), "staging", "1");
    mkdirSync(stage, { recursive: true });
    // As the receiver stages them: 700 until the commit sets their modes.
    for (const d of dirs) mkdirSync(join(stage, d), { recursive: true, mode: 0o700 });
    const staged = Object.entries(put).map(([p, body]) => {
      mkdirSync(join(stage, p, ".."), { recursive: true });
      writeFileSync(join(stage, p), body);
      return { path: p, staged: join(stage, p) };
    });
    const dir = (path: string): FileStatus => ({ path, kind: "d", size: 0, mode: 0o755, mtime: 0, hash: "" });
    const has = new Set([...Object.keys(put), ...dirs]);
    return { root, input: { root, staged, stagedRoot: stage, dirs: dirs.map(dir), remove, masterHas: (p: string) => has.has(p) } };
  }
  const e = (path: string, kind: "f" | "d" | "l"): FileStatus => ({ path, kind, size: 0, mode: kind === "d" ? 0o755 : 0o644, mtime: 0, hash: "" });

  const cases: [string, (root: string) => void, Record<string, string>, string[], FileStatus[], (root: string) => void][] = [
    [
      "a folder (with files) replaced by a file",
      (root) => {
        mkdirSync(join(root, "newdir", "sub", "deeper"), { recursive: true });
        writeFileSync(join(root, "newdir", "sub", "f"), "old");
        writeFileSync(join(root, "newdir", "sub", "deeper", "g"), "old");
      },
      { "newdir/sub": "x" },
      [],
      [e("newdir/sub/f", "f"), e("newdir/sub/deeper/g", "f"), e("newdir/sub/deeper", "d"), e("newdir/sub", "d")],
      (root) => expect(readFileSync(join(root, "newdir", "sub"), "utf8")).toBe("x"),
    ],
    [
      "a worker symlink where the master has a folder",
      (root) => {
        mkdirSync(join(root, "a", "b"), { recursive: true });
        symlinkSync("/etc", join(root, "a", "b", "c"));
      },
      { "a/b/c/file": "in the folder" },
      ["a/b/c"],
      [e("a/b/c", "l")],
      (root) => expect(readFileSync(join(root, "a", "b", "c", "file"), "utf8")).toBe("in the folder"),
    ],
    [
      "a worker symlink to a folder (through which the new subfolders seem to exist) where the master has a folder",
      (root) => {
        mkdirSync(join(root, "c"), { mode: 0o755 });
        symlinkSync(".", join(root, "a"));
      },
      { "a/c/f": "deep" },
      ["a", "a/c"],
      [e("a", "l")],
      (root) => {
        expect(lstatSync(join(root, "a")).isDirectory()).toBe(true);
        expect(statSync(join(root, "a", "c")).mode & 0o777).toBe(0o755);
        expect(readFileSync(join(root, "a", "c", "f"), "utf8")).toBe("deep");
      },
    ],
    [
      "a worker symlink where the master has a file",
      (root) => symlinkSync("/etc/passwd", join(root, "f")),
      { f: "a file again" },
      [],
      [e("f", "l")],
      (root) => expect(readFileSync(join(root, "f"), "utf8")).toBe("a file again"),
    ],
    [
      "a worker file where the master has a folder",
      (root) => writeFileSync(join(root, "d"), "was a file"),
      { "d/inner": "now inside" },
      ["d"],
      [e("d", "f")],
      (root) => expect(readFileSync(join(root, "d", "inner"), "utf8")).toBe("now inside"),
    ],
  ];

  for (const [name, setup, put, dirs, remove, check] of cases) {
    test(`${name}: committed; a failure or a crash at any step leaves it as before`, async () => {
      const { root, input } = kindFixture(setup, put, dirs, remove);
      commitTree(input);
      check(root);
      const total = resolveOps(kindFixture(setup, put, dirs, remove).input).length;
      // Symlinks included: the old tree comes back exactly.
      const exact = (root: string) => JSON.stringify([...snapshot(root)]);
      for (let at = 0; at < total; at++) {
        const a = kindFixture(setup, put, dirs, remove);
        const before = exact(a.root);
        expect(() => commitTree({ ...a.input, failAt: at })).toThrow(/injected failure/);
        expect(exact(a.root)).toBe(before);
        const b = kindFixture(setup, put, dirs, remove);
        expect(() => commitTree({ ...b.input, crashAt: at })).toThrow(/simulated crash/);
        expect(recoverTree(b.root)).toBe(true);
        expect(exact(b.root)).toBe(before);
      }
    });
  }

  test("setuid, setgid and sticky bits a master sends are not applied", () => {
    const { root, input } = kindFixture(() => {}, {}, ["s"], []);
    commitTree({ ...input, dirs: [{ path: "s", kind: "d", size: 0, mode: 0o7755, mtime: 0, hash: "" }] });
    expect(statSync(join(root, "s")).mode & 0o7777).toBe(0o755);
  });
});

describe("recovery from an unreadable journal", () => {
  test("a damaged journal stops recovery and keeps the backups; setting aside moves both and says where", () => {
    const { root, input } = fixture("tree");
    expect(() => commitTree({ ...input, crashAt: 3 })).toThrow(/simulated crash/);
    const j = join(stateDir(root), "journal.json");
    writeFileSync(j, '{"v":1,"ops":[{"t":"rm","pa'); // cut short, as a full disk would leave it
    const backups = readdirSync(join(stateDir(root), "backup"));
    expect(backups.length).toBeGreaterThan(0);
    expect(() => recoverTree(root)).toThrow(JournalError);
    expect(() => recoverTree(root)).toThrow(/cannot be read.*backups are kept.*--recover/);
    expect(readdirSync(join(stateDir(root), "backup"))).toEqual(backups);
    const r = recoverTree(root, true) as { journal: string; backups: string };
    expect(existsSync(j)).toBe(false);
    expect(existsSync(r.journal)).toBe(true);
    expect(readdirSync(r.backups)).toEqual(backups);
    expect(recoverTree(root)).toBe(false);
  });

  test("a journal of the wrong shape is not taken as empty either", () => {
    const { root } = fixture("tree");
    mkdirSync(stateDir(root), { recursive: true });
    writeFileSync(join(stateDir(root), "journal.json"), '{"v":1,"ops":"nope"}');
    expect(() => recoverTree(root)).toThrow(/not a falc commit journal/);
  });
});

describe("commit: a folder the master replaced by a file but that holds entries no step removes", () => {
  test("is left as it is and named; the rest of the commit goes in", () => {
    const root = join(tmp, `b${n++}`, "tree");
    mkdirSync(join(root, "d"), { recursive: true });
    writeFileSync(join(root, "d", "gone"), "extra, removed");
    writeFileSync(join(root, "d", "x.swp"), "excluded: the master never lists it");
    const stage = join(stateDir(root), "staging", "1");
    mkdirSync(stage, { recursive: true });
    writeFileSync(join(stage, "d"), "the master's file");
    writeFileSync(join(stage, "other"), "an unrelated new file");
    const file = (path: string, kind: "f" | "d" = "f"): FileStatus => ({ path, kind, size: 0, mode: kind === "d" ? 0o755 : 0o644, mtime: 0, hash: "" });
    const st = commitTree({
      root,
      staged: [{ path: "d", staged: join(stage, "d") }, { path: "other", staged: join(stage, "other") }],
      stagedRoot: stage,
      dirs: [],
      remove: [file("d/gone"), file("d", "d")],
      masterHas: (p) => p === "d" || p === "other",
    });
    expect(st.blocked).toEqual(["d"]);
    expect(readFileSync(join(root, "other"), "utf8")).toBe("an unrelated new file");
    expect(readFileSync(join(root, "d", "x.swp"), "utf8")).toContain("excluded");
    expect(existsSync(join(root, "d", "gone"))).toBe(false);
  });
});
