import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, zstdCompressSync } from "node:zlib";
import type { Plan, WireStatus } from "./protocol.ts";
import { compressFor, Receiver } from "./transfer.ts";

const tmp = mkdtempSync(join(tmpdir(), "falc-sync-transfer-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const blake = (b: Buffer) => new Bun.CryptoHasher("blake2b256").update(b).digest("hex");
let n = 0;

/** 40 files (some empty, some spanning blocks) in nested directories, and the data stream cut into 64 KiB blocks. */
function transfer(opts: { corrupt?: number } = {}) {
  const root = join(tmp, `r${n++}`, "tree");
  mkdirSync(root, { recursive: true });
  const contents = Array.from({ length: 40 }, (_, i) => (i % 9 === 4 ? Buffer.alloc(0) : i % 2 ? Buffer.from("text ".repeat(2000 + i * 300)) : randomBytes(1000 + i * 5000)));
  const files: WireStatus[] = contents.map((c, i) => [`d${i % 3}/sub${i % 2}/f${i}`, "f", c.length, 0o640, 1_700_000_000_000 + i, blake(c)]);
  if (opts.corrupt !== undefined) files[opts.corrupt]![5] = blake(Buffer.from("something else"));
  const dirs: WireStatus[] = ["d0", "d1", "d2", "d0/sub0", "d0/sub1", "d1/sub0", "d1/sub1", "d2/sub0", "d2/sub1", "empty"].map((p) => [p, "d", 0, 0o750, 0, ""]);
  const plan: Plan = { id: 7, files, dirs, remove: [], missing: 50, shared: 0, extra: 0 };
  const all = Buffer.concat(contents);
  const blocks: Buffer[] = [];
  for (let off = 0, k = 0; off < all.length; off += 65536, k++) {
    const raw = all.subarray(off, off + 65536);
    // Alternate codecs: a raw block is written from the frame itself, a zstd one from its output.
    blocks.push(k % 2 ? Buffer.concat([Buffer.from([1]), zstdCompressSync(raw, { params: { [constants.ZSTD_c_compressionLevel]: 1 } })]) : Buffer.concat([Buffer.from([0]), raw]));
  }
  return { root, plan, contents, blocks, bytes: all.length };
}

test("blocks are staged at their paths and verified; the socket thread takes some hashing while the writer is behind", async () => {
  const t = transfer();
  const rec = new Receiver(t.root, t.plan, 1 << 20);
  // Fed back to back without yielding, the writer falls behind at once.
  for (const b of t.blocks) rec.onData(b);
  const staged = await rec.finish({ bytes: t.bytes, chunks: t.blocks.length });
  expect(rec.hashedHere).toBeGreaterThan(0);
  expect(rec.hashedHere).toBeLessThan(t.contents.length);
  staged.forEach((s, i) => {
    expect(s.staged).toBe(join(rec.tree, t.plan.files[i]![0]));
    expect(readFileSync(s.staged).equals(t.contents[i]!)).toBe(true);
    expect(statSync(s.staged).mode & 0o777).toBe(0o640);
    expect(rec.stats[i]!.ino).toBe(statSync(s.staged).ino);
  });
  expect(statSync(join(rec.tree, "empty")).isDirectory()).toBe(true);
  rec.discard();
});

test("a file whose bytes do not match the planned hash fails the transfer, whichever thread hashed it", async () => {
  for (const corrupt of [0, 39]) {
    const t = transfer({ corrupt });
    const rec = new Receiver(t.root, t.plan, 1 << 20);
    for (const b of t.blocks) rec.onData(b);
    await expect(rec.finish({ bytes: t.bytes, chunks: t.blocks.length })).rejects.toThrow(`f${corrupt}\` arrived with another hash`);
    rec.discard();
  }
});

test("more data than planned, or less, is refused", async () => {
  // A block whose memory moved to the writer thread is empty here afterwards: fresh blocks for each receiver.
  let t = transfer();
  const more = new Receiver(t.root, t.plan, 1 << 20);
  for (const b of t.blocks) more.onData(b);
  expect(() => more.onData(Buffer.from([0, 1, 2, 3]))).toThrow(/more data than planned/);
  more.discard();
  t = transfer();
  const less = new Receiver(t.root, t.plan, 1 << 20);
  for (const b of t.blocks.slice(0, -1)) less.onData(b);
  await expect(less.finish({ bytes: t.bytes, chunks: t.blocks.length })).rejects.toThrow(/incomplete/);
  less.discard();
});

test("auto compression: raw over loopback, zstd elsewhere; explicit modes win", () => {
  for (const a of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) expect(compressFor("auto", a)).toBe(false);
  for (const a of ["10.0.0.5", "192.168.1.2", "fe80::1", "::ffff:10.1.2.3", undefined]) expect(compressFor("auto", a)).toBe(true);
  expect(compressFor("zstd", "127.0.0.1")).toBe(true);
  expect(compressFor("none", "10.0.0.5")).toBe(false);
});
