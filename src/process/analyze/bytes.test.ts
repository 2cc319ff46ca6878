import { describe, expect, test } from "bun:test";
import { FormatError, View, bufferSource, entropy, hex8 } from "./bytes.ts";

describe("bytes", () => {
  test("entropy: constant 0, uniform 8, sampled estimate close for large regions", () => {
    expect(entropy(new Uint8Array(1000))).toBe(0);
    const uniform = new Uint8Array(256 * 64);
    for (let i = 0; i < uniform.length; i++) uniform[i] = i & 0xff;
    expect(entropy(uniform)).toBeCloseTo(8, 6);
    expect(entropy(uniform, 10, 10)).toBe(0);
    // 40 MiB of a repeating 4-symbol pattern with noise in one half: the sampled value tracks the exact one.
    const big = new Uint8Array(40 * 1024 * 1024);
    let x = 12345;
    for (let i = 0; i < big.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      big[i] = i < big.length / 2 ? i & 3 : x >>> 24;
    }
    const exactFirst = entropy(big, 0, 1024 * 1024);
    expect(exactFirst).toBeCloseTo(2, 3);
    const counts = new Float64Array(256);
    for (const b of big) counts[b]!++;
    let exact = 0;
    for (const c of counts) if (c) exact -= (c / big.length) * Math.log2(c / big.length);
    expect(exact).toBeGreaterThan(5.5);
    expect(Math.abs(entropy(big) - exact)).toBeLessThan(0.05);
  });

  test("View bounds and helpers", () => {
    const v = new View(Uint8Array.from([1, 0, 0, 0, 0x41, 0x42, 0]));
    expect(v.u32(0)).toBe(1);
    expect(v.cstr(4)).toBe("AB");
    expect(() => v.u32(5)).toThrow(FormatError);
    expect(hex8(0x1000)).toBe("0x00001000");
    expect(bufferSource(Uint8Array.from([1, 2, 3])).read(2, 10)).toEqual(Uint8Array.from([3]));
  });
});

describe("64-bit reads", () => {
  test("u64 and u64hex agree with BigInt reads in both byte orders", () => {
    const b = new Uint8Array(16);
    const dv = new DataView(b.buffer);
    for (const [v, le] of [[0x123456789abcn, true], [0xffffffffffffffffn, true], [0x1fffffffffffffn, false], [5n, false]] as const) {
      dv.setBigUint64(4, v, le);
      const view = new View(b, le);
      expect(view.u64hex(4)).toBe("0x" + v.toString(16));
      if (v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(view.u64(4)).toBe(Number(v));
    }
  });
});
