import { expect, test } from "bun:test";
import { join } from "node:path";

// The logger writes to fd 2; run it in a child process to read what a pipe gets.
test("off a TTY, logs are JSON lines with event, task_id, stage, worker", async () => {
  const script = `
    import { createLogger } from ${JSON.stringify(join(import.meta.dir, "logger.ts"))};
    const log = createLogger({ level: "info" }).child({ worker: "pre0", stage: "pre" });
    log.info({ event: "task_started", task_id: "t1" }, "task started");
    log.debug({ event: "hidden" }, "below the level");
  `;
  const p = Bun.spawn(["bun", "-e", script], { stderr: "pipe", stdout: "pipe" });
  const err = await new Response(p.stderr).text();
  expect(await p.exited).toBe(0);
  const lines = err.trim().split("\n");
  expect(lines.length).toBe(1);
  const rec = JSON.parse(lines[0]!);
  expect(rec).toMatchObject({ event: "task_started", task_id: "t1", stage: "pre", worker: "pre0", msg: "task started", level: 30 });
  expect(typeof rec.time).toBe("number");
});
