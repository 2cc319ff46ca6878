import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFileParallel } from "./hash-thread.ts";
import { hashBytes, hashFile } from "./hashes.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-hash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function tool(cmd: string, path: string): Promise<string | null> {
  if (!Bun.which(cmd)) return null;
  const p = Bun.spawn([cmd, path], { stdout: "pipe" });
  return (await new Response(p.stdout).text()).split(/\s+/)[0]!;
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
    expect(h).toMatchObject(hashBytes(data));
    for (const [cmd, key] of [["md5sum", "md5"], ["sha1sum", "sha1"], ["sha256sum", "sha256"], ["sha512sum", "sha512"]] as const) {
      const ref = await tool(cmd, path);
      if (ref) expect(h[key]).toBe(ref);
    }
  });

  test("empty file", () => {
    const path = join(dir, "empty");
    writeFileSync(path, "");
    const h = hashFile(path);
    expect(h.size).toBe(0);
    expect(h.sha256).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test("two-thread hashing: kept whole or streamed in alternating buffers, same digests", async () => {
    const data = new Uint8Array(20 * 1024 * 1024 + 12345);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    const path = join(dir, "parallel.bin");
    writeFileSync(path, data);
    const ref = hashBytes(data);
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
    expect(b.md5).toBe(hashBytes(data.subarray(0, 600_000)).md5);
  });
});
