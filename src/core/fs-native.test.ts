import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canRenameNoReplace, renameNoReplace, startWriteback, syncFs, syncfsStats } from "./fs-native.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-fs-native-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fs-native", () => {
  test("syncfs through libc (Linux with glibc): one call flushes the filesystem", () => {
    const before = syncfsStats.ffi;
    expect(syncFs(dir)).toBe(true);
    if (process.platform === "linux" && existsSync("/lib/x86_64-linux-gnu/libc.so.6")) expect(syncfsStats.ffi).toBe(before + 1);
  });

  test("renameNoReplace renames to a free name and never over an existing one, even an empty directory", () => {
    if (!canRenameNoReplace()) return;
    mkdirSync(join(dir, "a"));
    writeFileSync(join(dir, "a", "f"), "a");
    mkdirSync(join(dir, "empty"));
    mkdirSync(join(dir, "full"));
    writeFileSync(join(dir, "full", "f"), "full");
    expect(renameNoReplace(join(dir, "a"), join(dir, "b"))).toBe("renamed");
    expect(readFileSync(join(dir, "b", "f"), "utf8")).toBe("a");
    expect(renameNoReplace(join(dir, "b"), join(dir, "empty"))).toBe("exists");
    expect(renameNoReplace(join(dir, "b"), join(dir, "full"))).toBe("exists");
    expect(readFileSync(join(dir, "full", "f"), "utf8")).toBe("full");
    expect(existsSync(join(dir, "b"))).toBe(true);
    expect(() => renameNoReplace(join(dir, "missing"), join(dir, "c"))).toThrow(/errno 2/);
  });

  test("FALC_NO_NATIVE_FS turns the libc calls off: sync -f or nothing, and no renameat2", () => {
    const r = Bun.spawnSync([process.execPath, "-e", `const m = await import(${JSON.stringify(join(import.meta.dir, "fs-native.ts"))}); console.log(JSON.stringify([m.syncFs(${JSON.stringify(dir)}), m.canRenameNoReplace(), m.renameNoReplace("/x", "/y"), m.syncfsStats]));`], { env: { ...process.env, FALC_NO_NATIVE_FS: "1" } });
    const [synced, can, renamed, stats] = JSON.parse(r.stdout.toString());
    expect(can).toBe(false);
    expect(renamed).toBeNull();
    expect(stats.ffi).toBe(0);
    expect(synced).toBe(Boolean(Bun.which("sync")));
  });

  test("startWriteback is a hint: it returns at once and changes nothing", () => {
    const p = join(dir, "wb");
    const fd = openSync(p, "w");
    writeSync(fd, "x".repeat(100_000));
    startWriteback(fd);
    closeSync(fd);
    expect(readFileSync(p, "utf8").length).toBe(100_000);
  });
});
