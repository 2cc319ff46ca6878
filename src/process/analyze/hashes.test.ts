import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFileParallel } from "./hash-thread.ts";
import { hashBytes, hashFile } from "./hashes.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-hash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The coreutils digests of a file: the reference (never the module under test). */
async function coreutils(path: string): Promise<{ md5: string; sha1: string; sha256: string; sha512: string }> {
  const one = async (cmd: string) => {
    const p = Bun.spawn([cmd, path], { stdout: "pipe" });
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    if (code !== 0) throw new Error(`${cmd} exited ${code}`);
    return out.split(/\s+/)[0]!;
  };
  return { md5: await one("md5sum"), sha1: await one("sha1sum"), sha256: await one("sha256sum"), sha512: await one("sha512sum") };
}

describe("hashes", () => {
  test("known vectors of 'abc'", () => {
    const h = hashBytes(new TextEncoder().encode("abc"));
    expect(h.md5).toBe("900150983cd24fb0d6963f7d28e17f72");
    expect(h.sha1).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(h.sha256).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(h.sha512.slice(0, 16)).toBe("ddaf35a193617aba");
  });

  test("streamed file hashes equal the coreutils tools, chunk callback sees every byte once", async () => {
    // 9 MiB + 3 bytes: several chunks and a ragged tail.
    const data = new Uint8Array(9 * 1024 * 1024 + 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const path = join(dir, "big.bin");
    writeFileSync(path, data);
    let seen = 0;
    let lastOff = -1;
    const h = hashFile(path, (chunk, off) => {
      expect(off).toBe(seen);
      expect(off).toBeGreaterThan(lastOff);
      lastOff = off;
      seen += chunk.length;
    });
    expect(seen).toBe(data.length);
    expect(h.size).toBe(data.length);
    const ref = await coreutils(path);
    expect(h).toMatchObject(ref);
    expect(hashBytes(data)).toMatchObject(ref);
  });

  test("empty file", async () => {
    const path = join(dir, "empty");
    writeFileSync(path, "");
    const h = hashFile(path);
    expect(h.size).toBe(0);
    expect(h).toMatchObject(await coreutils(path));
  });

  test("two-thread hashing: kept whole or streamed in alternating buffers, same digests", async () => {
    const data = new Uint8Array(20 * 1024 * 1024 + 12345);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    const path = join(dir, "parallel.bin");
    writeFileSync(path, data);
    const ref = await coreutils(path);
    const kept = await hashFileParallel(path, { keepUpTo: 64 * 1024 * 1024 });
    expect(kept).toMatchObject({ ...ref, size: data.length });
    expect(Buffer.compare(Buffer.from(kept.bytes!), Buffer.from(data))).toBe(0);
    const offsets: number[] = [];
    const streamed = await hashFileParallel(path, { keepUpTo: 0, onChunk: (_c, off) => offsets.push(off) });
    expect(streamed).toMatchObject({ ...ref, size: data.length });
    expect(streamed.bytes).toBeUndefined();
    expect(offsets).toEqual([0, 4, 8, 12, 16, 20].map((m) => m << 20));
    // Several files at once share the one thread without mixing their sessions.
    const small = join(dir, "small.bin");
    writeFileSync(small, data.subarray(0, 600_000));
    const [a, b] = await Promise.all([hashFileParallel(path, { keepUpTo: 0 }), hashFileParallel(small)]);
    expect(a.sha512).toBe(ref.sha512);
    expect(b.md5).toBe((await coreutils(small)).md5);
  });
});
