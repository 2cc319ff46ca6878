import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queueConformance } from "./conformance.ts";
import { retentionConformance } from "./retention-conformance.ts";
import { SqliteQueue } from "./sqlite.ts";

const sqliteBackend = async ({ retryBaseMs }: { retryBaseMs: number }) => {
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
};

queueConformance("sqlite", sqliteBackend);
retentionConformance("sqlite", sqliteBackend);
