import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commitTree, recoverTree, resolveOps, stateDir, type CommitInput } from "./commit.ts";
import { Excluder, TreeScanner, treeDigest, type FileStatus } from "./integrity.ts";

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
