import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queueConformance } from "./conformance.ts";
import { SqliteQueue } from "./sqlite.ts";

queueConformance("sqlite", async ({ retryBaseMs }) => {
  const dir = mkdtempSync(join(tmpdir(), "falc-q-"));
  const path = join(dir, "queue.sqlite");
  const queue = new SqliteQueue(path, { retryBaseMs });
  return {
    queue,
    spec: `sqlite:${path}`,
    dispose: async () => {
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
