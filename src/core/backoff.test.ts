import { expect, test } from "bun:test";
import { Backoff, backoffDelay } from "./backoff.ts";

test("doubles from the base and stops at the cap", () => {
  const o = { baseMs: 100, maxMs: 1000 };
  expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, o))).toEqual([100, 200, 400, 800, 1000, 1000]);
  expect(backoffDelay(10_000, o)).toBe(1000);
});

test("a constant delay with factor 1, and growth by another factor", () => {
  expect(backoffDelay(7, { baseMs: 5000, maxMs: 30_000, factor: 1 })).toBe(5000);
  expect(backoffDelay(3, { baseMs: 10, maxMs: 1e6, factor: 3 })).toBe(90);
});

test("jitter takes off at most its fraction", () => {
  const o = { baseMs: 1000, maxMs: 1000, jitter: 0.2 };
  expect(backoffDelay(1, { ...o, random: () => 0 })).toBe(1000);
  expect(backoffDelay(1, { ...o, random: () => 0.999999 })).toBe(800);
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(1, o);
    expect(d).toBeGreaterThanOrEqual(800);
    expect(d).toBeLessThanOrEqual(1000);
  }
});

test("Backoff counts attempts and resets", async () => {
  const b = new Backoff({ baseMs: 1, maxMs: 4 });
  expect([b.next(), b.next(), b.next(), b.next()]).toEqual([1, 2, 4, 4]);
  b.reset();
  expect(b.next()).toBe(1);
  const ac = new AbortController();
  const big = new Backoff({ baseMs: 60_000, maxMs: 60_000 });
  const t0 = Date.now();
  const w = big.wait(ac.signal);
  ac.abort();
  await w;
  expect(Date.now() - t0).toBeLessThan(1000);
});
