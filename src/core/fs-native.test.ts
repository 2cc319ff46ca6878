import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canRenameNoReplace, renameNoReplace, startWriteback, syncFs, syncfsStats } from "./fs-native.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-fs-native-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fs-native", () => {
  test("syncfs through libc (Linux with glibc): one call flushes the filesystem", () => {
    const before = { ...syncfsStats };
    expect(syncFs(dir)).toBe(true);
    // falc runs on Linux with glibc: the call goes through libc, not a `sync -f` process.
    expect(syncfsStats).toEqual({ ...before, ffi: before.ffi + 1 });
  });

  test("renameNoReplace renames to a free name and never over an existing one, even an empty directory", () => {
    expect(canRenameNoReplace()).toBe(true);
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
    // coreutils' `sync -f` did it (scripts/setup's base system has coreutils).
    expect(synced).toBe(true);
    expect(stats).toEqual({ ffi: 0, spawn: 1, failed: 0 });
  });

  test("startWriteback hands the kernel the hint (sync_file_range) and changes no byte", () => {
    const p = join(dir, "wb");
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251));
    const fd = openSync(p, "w");
    writeSync(fd, data);
    expect(startWriteback(fd)).toBe(true);
    closeSync(fd);
    expect(readFileSync(p).equals(data)).toBe(true);
    // The kernel really is asked: a descriptor that is not open is refused (EBADF), not silently accepted.
    expect(startWriteback(-1)).toBe(false);
  });
});
