import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FALC, freePort, runFalc, waitFor } from "./helpers.ts";

// Issue 18.3: a node names itself by a stable id shown everywhere, and a second machine (here: another
// FALC_HOME on the same queue) claiming the same id is refused at start.
const root = mkdtempSync(join(tmpdir(), "falc-nodeid-"));
const queue = `sqlite:${join(root, "queue.sqlite")}`;
const procs: ReturnType<typeof Bun.spawn>[] = [];
afterAll(() => {
  for (const p of procs) p.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

function worker(home: string, node: string, port: number) {
  const p = Bun.spawn([FALC, "worker", "--stage", "noop", "--no-tui", "--health-port", String(port), "--queue", queue], {
    env: { ...process.env, FALC_HOME: home, FALC_NODE: node, FALC_LOG_LEVEL: "warn" },
    stdout: "pipe",
    stderr: "pipe",
  });
  procs.push(p);
  return p;
}

test("workers show their node id; a second machine with the same id is refused with exit 2", async () => {
  const homeA = join(root, "a");
  const homeB = join(root, "b");
  worker(homeA, "edge-1", await freePort());
  await waitFor(async () => {
    const r = await runFalc(["tasks", "workers", "--json", "--queue", queue], { env: { FALC_HOME: homeA } });
    return r.stdout.includes("handler@edge-1:");
  }, 30_000, 100, "edge-1 in the registry");
  const list = await runFalc(["tasks", "workers", "--queue", queue], { env: { FALC_HOME: homeA } });
  expect(list.stdout).toMatch(/noop0@edge-1:\d+/);

  const dup = worker(homeB, "edge-1", await freePort());
  const code = await Promise.race([dup.exited, Bun.sleep(20_000).then(() => -1)]);
  const err = await new Response(dup.stderr).text();
  expect(code).toBe(2);
  expect(err).toContain("node id `edge-1` is already used by a live worker");
  expect(err.trim().split("\n").length).toBe(1);

  // Another handler on the same node (same machine and FALC_HOME) is not a duplicate.
  const same = worker(homeA, "edge-1", await freePort());
  await waitFor(async () => {
    const r = await runFalc(["tasks", "workers", "--json", "--queue", queue], { env: { FALC_HOME: homeA } });
    return r.stdout.includes(`handler@edge-1:${same.pid}`);
  }, 30_000, 100, "the second handler of edge-1");
}, 90_000);
