import { afterAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { schemaVersion } from "../core/store.ts";
import { MasterStore } from "./store.ts";

const tmp = mkdtempSync(join(tmpdir(), "falc-sync-store-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("a master.sqlite written by the first released schema opens with all it held, and takes new rows", () => {
  // fixtures/sync/master-v0.sqlite: written by MasterStore before the store had migrations.
  const home = join(tmp, "old");
  mkdirSync(join(home, "sync"), { recursive: true });
  copyFileSync(join(import.meta.dir, "../../fixtures/sync/master-v0.sqlite"), join(home, "sync", "master.sqlite"));
  const s = MasterStore.open(home);
  try {
    expect(s.nodes().map((n) => [n.name, n.address, n.record?.host])).toEqual([["w1", "10.0.0.2:40000", "node-1"]]);
    expect(s.groups()).toEqual({ w1: ["scan", "web"] });
    expect(s.portCount("w1")).toBe(1);
    expect(s.lastSync("w1", "integrity")).toMatchObject({ ok: false, error: "commit failed at `a`: ENOENT" });
    expect(s.lastError("w1")).toMatchObject({ kind: "integrity", error: "commit failed at `a`: ENOENT" });
    expect(s.knows("w1")).toBe(true);
    expect(schemaVersion(s.db)).toBe(1); // carried into the versioned schema
    expect(s.knows("ghost")).toBe(false);
    s.addSync("w1", "integrity", { at: Date.now(), durationMs: 1, ok: true, error: null, missing: 0 });
    expect(s.lastSync("w1", "integrity")!.ok).toBe(true);
    expect(s.lastError("w1")!.error).toContain("ENOENT"); // the last failure stays visible
  } finally {
    s.close();
  }
});

test("an info send's chunks add up in one row: status shows the send's total", () => {
  const s = MasterStore.open(join(tmp, "info"));
  try {
    s.nodeSeen("w1", "127.0.0.1:1", "0.1.0");
    s.addSync("w1", "info", { at: Date.now(), durationMs: 2, ok: true, error: null, rows: 500, chunks: 1, record: true });
    s.addToLastInfo("w1", 500, 3);
    s.addToLastInfo("w1", 120, 1);
    expect(s.lastSync("w1", "info")).toMatchObject({ rows: 1120, chunks: 3, durationMs: 6 });
  } finally {
    s.close();
  }
});
