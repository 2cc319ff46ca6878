import { describe, expect, test } from "bun:test";
import { phaseGates } from "./nmap-gates.ts";

const settled = async <T>(p: Promise<T>) => Promise.race([p.then(() => true), Bun.sleep(0).then(() => false)]);

describe("a run's nmap slots", () => {
  test("sweeps queued behind the running ones hold no overall slot: a service scan starts at once", async () => {
    const gate = phaseGates({ discovery: 1, service: 8, any: 3 });
    const running = await gate("discovery");
    const queued = Array.from({ length: 6 }, () => gate("discovery"));
    expect(await settled(gate("service"))).toBe(true);
    expect(await settled(queued[0]!)).toBe(false);
    running();
    expect(await settled(queued[0]!)).toBe(true);
  });

  test("the overall bound holds whatever the phase, and slots come back", async () => {
    const gate = phaseGates({ discovery: 2, service: 8, any: 3 });
    const held = [await gate("discovery"), await gate("service"), await gate("service")];
    const fourth = gate("service");
    expect(await settled(fourth)).toBe(false);
    held[0]!();
    held[0]!(); // a second release gives nothing back twice
    expect(await settled(fourth)).toBe(true);
    expect(await settled(gate("discovery"))).toBe(false);
  });
});
