import { expect, test } from "bun:test";
import { monoMs, monoNs } from "./mono-clock.ts";

test("monoNs is the system-wide monotonic clock: another process reads the same timeline", async () => {
  const before = monoNs();
  const p = Bun.spawn(["bun", "-e", `import { monoNs } from ${JSON.stringify(import.meta.dir + "/mono-clock.ts")}; console.log(String(monoNs()))`], { stdout: "pipe" });
  const theirs = BigInt((await new Response(p.stdout).text()).trim());
  const after = monoNs();
  expect(theirs).toBeGreaterThan(before);
  expect(theirs).toBeLessThan(after);
  // CLOCK_MONOTONIC counts from boot here: close to /proc/uptime, not to this process's start.
  const uptime = Number((await Bun.file("/proc/uptime").text()).split(" ")[0]);
  expect(Math.abs(monoMs() / 1000 - uptime)).toBeLessThan(5);
});
