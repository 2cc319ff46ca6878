import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bufferSource, fileSource } from "./bytes.ts";
import { run, sampleDir, testIf, tools, writeZip, zipWithPassword } from "../../../test/process/samples.ts";
import { DEFAULT_ZIP_LIMITS, ZipError, extractEntry, readZipDirectory } from "./zip.ts";

let dir: string;
beforeAll(() => {
  dir = join(sampleDir(), "zip");
  Bun.spawnSync(["mkdir", "-p", dir]);
});

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof ZipError) return e.code;
    throw e;
  }
  return undefined;
}

describe("zip reader", () => {
  test("stored and deflated entries round-trip, CRC checked", () => {
    const big = "falc ".repeat(10000);
    const z = writeZip([{ name: "a.txt", data: "stored data", method: 0 }, { name: "dir/b.txt", data: big }]);
    const src = bufferSource(z);
    const { entries } = readZipDirectory(src);
    expect(entries.map((e) => [e.name, e.method, e.size])).toEqual([["a.txt", 0, 11], ["dir/b.txt", 8, big.length]]);
    expect(Buffer.from(extractEntry(src, entries[0]!).data).toString()).toBe("stored data");
    expect(Buffer.from(extractEntry(src, entries[1]!).data).toString()).toBe(big);
    // Flip a byte of the stored data: the CRC catches it.
    const bad = Uint8Array.from(z);
    bad[30 + 5] ^= 0xff;
    expect(code(() => extractEntry(bufferSource(bad), entries[0]!))).toBe("crc");
  });

  testIf(tools.zip)("zip -P: ZipCrypto opens with the right password, refuses the wrong one, agrees with unzip -l", async () => {
    const payload = join(dir, "payload.bin");
    const data = new Uint8Array(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    writeFileSync(payload, data);
    writeFileSync(join(dir, "note.txt"), "read me\n");
    const out = await zipWithPassword(join(dir, "secret.zip"), [payload, join(dir, "note.txt")], "s3cr3t");
    const src = fileSource(out);
    try {
      const { entries } = readZipDirectory(src);
      const listed = (await run(["unzip", "-Z1", out]).catch(() => "payload.bin\nnote.txt\n")).trim().split("\n");
      expect(entries.map((e) => e.name)).toEqual(listed);
      expect(entries.every((e) => e.encrypted && !e.aes)).toBe(true);
      expect(code(() => extractEntry(src, entries[0]!))).toBe("encrypted");
      expect(code(() => extractEntry(src, entries[0]!, { passwords: ["wrong", "infected"] }))).toBe("wrong_password");
      const x = extractEntry(src, entries[0]!, { passwords: ["wrong", "s3cr3t"] });
      expect(x.password).toBe("s3cr3t");
      expect(Buffer.compare(Buffer.from(x.data), Buffer.from(data))).toBe(0);
      expect(Buffer.from(extractEntry(src, entries[1]!, { passwords: ["s3cr3t"] }).data).toString()).toBe("read me\n");
    } finally {
      src.close();
    }
  });

  test("AES entries are refused with a clear error", () => {
    const z = writeZip([{ name: "x.exe", data: "not really encrypted", aes: true }]);
    const src = bufferSource(z);
    const [e] = readZipDirectory(src).entries;
    expect(e!.aes).toBe(true);
    let msg = "";
    try {
      extractEntry(src, e!, { passwords: ["infected"] });
    } catch (err) {
      msg = (err as Error).message;
      expect((err as ZipError).code).toBe("aes");
    }
    expect(msg).toContain("AES-encrypted zip entries are not supported");
  });

  test("zip-bomb limits: ratio, lying sizes, entry count, total budget", () => {
    const zeros = new Uint8Array(20 * 1024 * 1024);
    const bomb = writeZip([{ name: "zeros.bin", data: zeros }]);
    const src = bufferSource(bomb);
    const [e] = readZipDirectory(src).entries;
    expect(e!.size / e!.compressedSize).toBeGreaterThan(250);
    expect(code(() => extractEntry(src, e!))).toBe("ratio");
    // Declares 1 KiB but inflates to 200 KiB: stopped at the declared size.
    const liar = bufferSource(writeZip([{ name: "liar", data: new Uint8Array(200 * 1024).fill(65), declaredSize: 1024 }]));
    expect(code(() => extractEntry(liar, readZipDirectory(liar).entries[0]!))).toBe("ratio");
    const many = writeZip(Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, data: "x", method: 0 as const })));
    expect(code(() => readZipDirectory(bufferSource(many), { ...DEFAULT_ZIP_LIMITS, maxEntries: 20 }))).toBe("too_many_entries");
    const two = bufferSource(writeZip([{ name: "a", data: "a".repeat(600) }, { name: "b", data: "b".repeat(600) }]));
    const limits = { ...DEFAULT_ZIP_LIMITS, maxTotalSize: 1000 };
    const budget = { used: 0 };
    const [a, b] = readZipDirectory(two, limits).entries;
    extractEntry(two, a!, { limits, budget });
    expect(code(() => extractEntry(two, b!, { limits, budget }))).toBe("too_large");
  });

  test("damaged archives give typed errors, and prepended data (self-extractors) is tolerated", () => {
    expect(code(() => readZipDirectory(bufferSource(new TextEncoder().encode("PK\x03\x04 nothing else"))))).toBe("not_zip");
    const z = writeZip([{ name: "in.txt", data: "inside" }]);
    const sfx = new Uint8Array(1000 + z.length);
    sfx.set(z, 1000);
    const src = bufferSource(sfx);
    const d = readZipDirectory(src);
    expect(d.prefix).toBe(1000);
    expect(Buffer.from(extractEntry(src, d.entries[0]!).data).toString()).toBe("inside");
    const cut = bufferSource(z.subarray(0, z.length - 30));
    expect(code(() => readZipDirectory(cut))).toBeDefined();
  });
});
