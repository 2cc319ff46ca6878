import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { sha512Hasher, usingLibcrypto } from "./libcrypto.ts";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);

describe("sha512 through libcrypto", () => {
  test("the system's libcrypto is used where it is installed", () => {
    const have = ["/usr/lib/x86_64-linux-gnu/libcrypto.so.3", "/lib/x86_64-linux-gnu/libcrypto.so.3", "/usr/lib64/libcrypto.so.3"].some(existsSync);
    if (have && !process.env.FALC_NO_LIBCRYPTO) expect(usingLibcrypto()).toBe(true);
  });

  test("same digests as node:crypto for empty, small, odd and chunked input", () => {
    for (const n of [0, 1, 111, 128, 1 << 20, (3 << 20) + 7]) {
      const b = bytes(n);
      const whole = sha512Hasher();
      whole.update(b);
      const chunked = sha512Hasher();
      for (let o = 0; o < n; o += 65_521) chunked.update(b.subarray(o, o + 65_521));
      const ref = createHash("sha512").update(b).digest("hex");
      expect(whole.digestHex()).toBe(ref);
      expect(chunked.digestHex()).toBe(ref);
    }
  });

  test("over shared memory (the pool buffer is a SharedArrayBuffer)", () => {
    const b = new Uint8Array(new SharedArrayBuffer(300_001));
    b.set(bytes(300_001));
    const h = sha512Hasher();
    h.update(b.subarray(1));
    expect(h.digestHex()).toBe(createHash("sha512").update(bytes(300_001).subarray(1)).digest("hex"));
  });

  test("without it (FALC_NO_LIBCRYPTO) Bun's hasher gives the same digest", () => {
    const code = `const m = await import(${JSON.stringify(join(import.meta.dir, "libcrypto.ts"))}); const h = m.sha512Hasher(); h.update(new TextEncoder().encode("abc")); console.log(m.usingLibcrypto(), h.digestHex());`;
    const r = Bun.spawnSync([process.execPath, "-e", code], { env: { ...process.env, FALC_NO_LIBCRYPTO: "1" } });
    const [using, hex] = r.stdout.toString().trim().split(" ");
    expect(using).toBe("false");
    expect(hex).toBe(createHash("sha512").update("abc").digest("hex"));
  });
});
