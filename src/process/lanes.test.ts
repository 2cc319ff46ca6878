import { describe, expect, test } from "bun:test";
import { laneCount, splitLanes } from "./lanes.ts";

describe("lanes", () => {
  test("every file in exactly one lane, each lane in the given order, the big ones spread out", () => {
    const costs = [500, 3, 3, 400, 3, 3, 3, 300, 3, 3, 200, 3];
    const lanes = splitLanes(costs, 2);
    expect(lanes).toHaveLength(2);
    expect(lanes.flat().sort((a, b) => a - b)).toEqual(costs.map((_, i) => i));
    for (const l of lanes) expect(l).toEqual([...l].sort((a, b) => a - b));
    const load = lanes.map((l) => l.reduce((n, i) => n + costs[i]!, 0));
    expect(Math.abs(load[0]! - load[1]!)).toBeLessThanOrEqual(Math.max(...costs));
    // 500 and 400 never share a lane.
    expect(lanes.find((l) => l.includes(0))!.includes(3)).toBe(false);
  });

  test("how many: as configured (never more than the files); automatic only with enough work to share", () => {
    expect(laneCount([1, 1, 1], 2)).toBe(2);
    expect(laneCount([1], 3)).toBe(1);
    expect(laneCount([5, 5, 5, 5, 5], 0)).toBe(1);
    expect(laneCount([1, 1], 0)).toBe(1);
    const many = Array.from({ length: 1000 }, () => 5);
    expect(laneCount(many, 1)).toBe(1);
    expect(laneCount(many, 0)).toBe(Math.min(require("node:os").availableParallelism(), 4));
  });
});
