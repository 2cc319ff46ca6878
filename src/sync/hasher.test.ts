import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { OffThreadHasher } from "./hasher.ts";

test("the hash thread gives BLAKE2b-256 of files fed in pieces across blocks", async () => {
  const a = randomBytes(300_000);
  const b = randomBytes(5);
  const h = new OffThreadHasher();
  // Block 1: all of a's first part; block 2: the rest of a, all of b (a view into a bigger buffer, so it is copied).
  h.feed(new Uint8Array(a.subarray(0, 100_000)), [[0, 0, 100_000, false]]);
  const block2 = Buffer.concat([Buffer.alloc(7), a.subarray(100_000), b]).subarray(7);
  h.feed(block2, [
    [0, 0, 200_000, true],
    [1, 200_000, 200_005, true],
  ]);
  const want = (x: Buffer) => new Bun.CryptoHasher("blake2b256").update(x).digest("hex");
  expect(await h.digest(1)).toBe(want(b));
  expect(await h.digest(0)).toBe(want(a));
  h.close();
});
