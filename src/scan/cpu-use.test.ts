import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuOf, watchLight } from "./cpu-use.ts";
import { phaseGates } from "./nmap-gates.ts";
import { runNmapPhase } from "./phase.ts";

const LIGHT = { share: 0.33, windowMs: 500 };

describe("what bounds an nmap: CPU or waiting", () => {
  test("a busy process is not light, a sleeping one is, also behind a wrapper", async () => {
    const busy = Bun.spawn(["sh", "-c", "yes > /dev/null"]);
    const idle = Bun.spawn(["sleep", "30"]);
    const calls: string[] = [];
    try {
      const stops = [watchLight(busy.pid, { ...LIGHT, onLight: () => calls.push("busy") }), watchLight(idle.pid, { ...LIGHT, onLight: () => calls.push("idle") })];
      const deadline = Date.now() + 5_000;
      while (!calls.includes("idle") && Date.now() < deadline) await Bun.sleep(50);
      // Two more windows for the busy one to (wrongly) turn light.
      const until = Date.now() + 2 * LIGHT.windowMs + 100;
      while (Date.now() < until) await Bun.sleep(50);
      for (const s of stops) s();
      expect(calls).toEqual(["idle"]);
      // The shell's child (yes) is counted: the tree used CPU.
      expect(cpuOf(busy.pid).seconds).toBeGreaterThan(0.3);
    } finally {
      // sh's child first (found by its parent, never by name), then sh.
      for (const child of readFileSync(`/proc/${busy.pid}/task/${busy.pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean)) process.kill(Number(child), "SIGKILL");
      busy.kill("SIGKILL");
      idle.kill("SIGKILL");
    }
  });

  test("a waiting sweep gives its CPU slot back: the next sweep starts while it still runs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "falc-light-"));
    try {
      const gate = phaseGates({ discovery: 1, service: 1 });
      const sweep = (name: string, extra: string[]) => {
        const xml = join(dir, `${name}.xml`);
        return runNmapPhase({ name: "discovery", argv: ["-oX", xml, "-n", "-Pn", "-sT", ...extra, "--", "127.0.0.1"], xml, timeoutS: 60, label: name, signal: new AbortController().signal, gate });
      };
      // One probe every 0.7 s: nmap mostly sleeps.
      const slow = sweep("slow", ["-p", "1-5", "--scan-delay", "700ms", "--max-retries", "0"]);
      const fast = sweep("fast", ["-p", "1"]);
      const [s, f] = await Promise.all([slow, fast]);
      expect([s.rec.status, f.rec.status]).toEqual(["done", "done"]);
      expect(f.startedAt).toBeLessThan(s.endedAt);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
