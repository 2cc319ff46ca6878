import { expect, test } from "bun:test";
import { parseStageCounts } from "./counts.ts";

test("stage counts from flags and config", () => {
  expect(parseStageCounts("pre,post", ["pre=4"], { post: 2 })).toEqual({ pre: 4, post: 2 });
  expect(parseStageCounts("scan", [], {})).toEqual({ scan: 1 });
  expect(parseStageCounts("a,b", ["a=2,b=3"], {})).toEqual({ a: 2, b: 3 });
  expect(() => parseStageCounts("", [], {})).toThrow(/at least one stage/);
  expect(() => parseStageCounts("pre", ["pre"], {})).toThrow(/stage=N/);
  expect(() => parseStageCounts("pre", ["post=2"], {})).toThrow(/not in --stage/);
  expect(() => parseStageCounts("pre", ["pre=0"], {})).toThrow(/between 1 and 256/);
  expect(() => parseStageCounts("Pre;rm", [], {})).toThrow(/invalid stage name/);
});
