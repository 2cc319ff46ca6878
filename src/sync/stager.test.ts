import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StagingWriter } from "./stager.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-sync-stager-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the staging thread writes files fed in pieces across blocks, with mode, mtime and BLAKE2b-256", async () => {
  const a = randomBytes(300_000);
  const b = randomBytes(5);
  const c = randomBytes(1000);
  const w = new StagingWriter(dir);
  w.write(new Uint8Array(a.subarray(0, 100_000)), [[0, 0, 100_000, false, 0o640, 1_000_000, true, "0"]]);
  // A view into a bigger buffer: copied, not moved.
  const block2 = Buffer.concat([Buffer.alloc(7), a.subarray(100_000), b, c]).subarray(7);
  w.write(block2, [
    [0, 0, 200_000, true, 0o640, 1_000_000, true, "0"],
    [1, 200_000, 200_005, true, 0o600, 2_000_000, true, "1"],
    [2, 200_005, 200_005, true, 0o644, 3_000_000, true, "2"],
    // Hashed by the caller: written, not hashed; its directories made on the way.
    [3, 200_005, 201_005, true, 0o644, 3_000_000, false, "sub/deeper/3"],
  ]);
  expect(w.backlog).toBeGreaterThan(0);
  const want = (x: Buffer) => new Bun.CryptoHasher("blake2b256").update(x).digest("hex");
  const r0 = await w.result(0);
  expect((await w.result(1)).hash).toBe(want(b));
  expect((await w.result(2)).hash).toBe(want(Buffer.alloc(0)));
  const r3 = await w.result(3);
  expect(r3.hash).toBeNull();
  expect(r3.size).toBe(1000);
  expect(readFileSync(join(dir, "sub", "deeper", "3")).equals(c)).toBe(true);
  expect(r0.hash).toBe(want(a));
  expect(readFileSync(join(dir, "0")).equals(a)).toBe(true);
  expect(statSync(join(dir, "0")).mode & 0o777).toBe(0o640);
  expect(Math.round(statSync(join(dir, "1")).mtimeMs)).toBe(2_000_000);
  expect(r0.ino).toBe(statSync(join(dir, "0")).ino);
  expect(w.backlog).toBe(0);
  w.close();
});

test("a write error reaches the waiting side instead of hanging", async () => {
  const w = new StagingWriter(join(dir, "missing-dir"));
  w.write(new Uint8Array([1]), [[0, 0, 1, true, 0o644, 0, true, "0"]]);
  await expect(w.result(0)).rejects.toThrow(/staging/);
  w.close();
});
