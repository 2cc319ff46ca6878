import { describe, expect, test } from "bun:test";
import { builtinPlugins } from "./builtin.ts";
import { loadProcessors } from "../test/process/plugins-testkit.ts";

describe("built-in processing plugins", () => {
  test("every factory loads; KEYs are unique per stage; names are unique", async () => {
    const all = (await Promise.all(builtinPlugins.map((f) => loadProcessors(f)))).flat();
    expect(all.map((p) => `${p.STAGE}:${p.KEY}`).sort()).toEqual([
      "identification:identify",
      "post:behaviour",
      "post:behaviour_signatures",
      "post:network",
      "pre:static",
      "pre:static_signatures",
      "pre:strings",
      "pre:yara",
    ]);
    expect(new Set(all.map((p) => p.NAME)).size).toBe(all.length);
    for (const p of all) {
      expect(p.kind).toBe("processor");
      expect(Number.isInteger(p.ORDER)).toBe(true);
      expect(p.CATEGORY.length).toBeGreaterThan(0);
    }
    // Signatures run after the results they read.
    const order = (k: string) => all.find((p) => p.KEY === k)!.ORDER;
    expect(order("static_signatures")).toBeGreaterThan(Math.max(order("static"), order("strings"), order("yara")));
    expect(order("behaviour_signatures")).toBeGreaterThan(Math.max(order("behaviour"), order("network")));
  });
});
