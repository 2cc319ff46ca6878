import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seededRandom, testSeed } from "../../test/seeded.ts";
import { hashBytes, hashFile } from "./hash-file.ts";

// Reference digests come from coreutils, never from the module under test.
function reference(tool: string, path: string): string {
  const r = Bun.spawnSync([tool, path], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${tool} failed: ${r.stderr.toString()}`);
  return r.stdout.toString().split(" ")[0]!;
}

test("digests equal md5sum, sha1sum, sha256sum, sha512sum and b2sum over generated files", () => {
  const rand = seededRandom(testSeed("hash-file"));
  const dir = mkdtempSync(join(tmpdir(), "falc-hash-"));
  const sizes = [0, 1, 1023, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, Math.floor(rand() * 3_000_000)];
  for (const size of sizes) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (rand() * 256) | 0;
    const path = join(dir, `f${size}`);
    writeFileSync(path, data);
    const h = hashFile(path, ["md5", "sha1", "sha256", "sha512", "blake2b512"]);
    expect(h.size).toBe(size);
    expect(h.md5).toBe(reference("md5sum", path));
    expect(h.sha1).toBe(reference("sha1sum", path));
    expect(h.sha256).toBe(reference("sha256sum", path));
    expect(h.sha512).toBe(reference("sha512sum", path));
    expect(h.blake2b512).toBe(reference("b2sum", path));
    expect(hashBytes(data, ["sha256"]).sha256).toBe(h.sha256);
  }
});

test("onChunk sees every byte once, at its offset", () => {
  const dir = mkdtempSync(join(tmpdir(), "falc-hash-"));
  const path = join(dir, "f");
  const data = new Uint8Array(2_500_000).map((_, i) => i % 251);
  writeFileSync(path, data);
  let seen = 0;
  hashFile(path, ["sha256"], { onChunk: (c, off) => { expect(off).toBe(seen); expect(c[0]).toBe(data[off]); seen += c.length; } });
  expect(seen).toBe(data.length);
});
