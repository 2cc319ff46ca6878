import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "falc-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const LOCK = join(import.meta.dir, "lock.ts");

/** A process that takes the lock `rounds` times and does a slow read-modify-write of a counter under it. */
function worker(lock: string, counter: string, rounds: number) {
  const code = `
    import { withFileLock } from ${JSON.stringify(LOCK)};
    import { readFileSync, writeFileSync } from "node:fs";
    for (let i = 0; i < ${rounds}; i++) {
      await withFileLock(${JSON.stringify(lock)}, async () => {
        const n = Number(readFileSync(${JSON.stringify(counter)}, "utf8"));
        await Bun.sleep(1);
        writeFileSync(${JSON.stringify(counter)}, String(n + 1));
      });
    }`;
  return Bun.spawn(["bun", "-e", code], { stdout: "ignore", stderr: "pipe" });
}

describe("withFileLock", () => {
  test("a stale lock file, four processes, 40 rounds each: no update lost (a lost lock would lose increments)", async () => {
    const lock = join(dir, "a.lock");
    const counter = join(dir, "a.count");
    writeFileSync(counter, "0");
    // Left by a holder that died: every starter sees it at once (the old pid check let two of them take it).
    writeFileSync(lock, `${hostname()} 4194303`);
    const ps = [0, 1, 2, 3].map(() => worker(lock, counter, 40));
    const codes = await Promise.all(ps.map((p) => p.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(Number(readFileSync(counter, "utf8"))).toBe(160);
    expect(existsSync(lock)).toBe(false);
  }, 120_000);

  test("a holder killed with SIGKILL releases the lock with its descriptors; a waiter gets it at once", async () => {
    const lock = join(dir, "b.lock");
    const holder = Bun.spawn(["bun", "-e", `import { withFileLock } from ${JSON.stringify(LOCK)}; await withFileLock(${JSON.stringify(lock)}, async () => { console.log("held"); await Bun.sleep(60_000); });`], { stdout: "pipe" });
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("held");
    const { withFileLock } = await import("./lock.ts");
    // While it lives, the lock is refused within the timeout.
    await expect(withFileLock(lock, () => 1, 300)).rejects.toThrow("is still locked after 0.3 s");
    holder.kill("SIGKILL");
    await holder.exited;
    // The file it left behind names a dead process; the kernel's lock is gone, so it is taken.
    expect(existsSync(lock)).toBe(true);
    expect(await withFileLock(lock, () => 42, 2000)).toBe(42);
    expect(existsSync(lock)).toBe(false);
  }, 60_000);
});
