import { expect, test } from "bun:test";
import { roundLine } from "./run.ts";
import type { RoundResult } from "./worker.ts";

const base: RoundResult = { ok: true, inSync: false, missing: 2, shared: 1, extra: 3, files: 3, bytes: 4096, wireBytes: 5000, durationMs: 12.4, scanMs: 1, receiveMs: 2, commitMs: 3, at: 0 };

test("a --once round in one line: synced with its counts, in sync, or failed with the reason and the tree unchanged", () => {
  expect(roundLine(base)).toBe("synced: 2 missing, 1 changed, 3 extra; 3 files, 4096 bytes in 12 ms");
  expect(roundLine({ ...base, inSync: true })).toBe("in sync (12 ms, 5000 bytes on the wire)");
  expect(roundLine({ ...base, ok: false, error: "lost the master" })).toBe("sync failed, tree unchanged: lost the master");
});
