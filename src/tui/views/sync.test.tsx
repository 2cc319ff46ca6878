import { afterEach, expect, test } from "bun:test";
import { render, cleanup } from "ink-testing-library";
import { statusSchema, toSyncNodes } from "../../sync/status.ts";
import { makeTheme } from "../theme.ts";
import { REFUSED_LINES, SyncView } from "./sync.tsx";

afterEach(() => cleanup());
const noColor = makeTheme({ NO_COLOR: "1" });

/** A status document as the master sends it (parsed by the same schema `falc sync status` uses). */
function doc(refusedCount: number, lastError: { at: number; kind: string; error: string } | null) {
  const refused = Array.from({ length: Math.min(refusedCount, 50) }, (_, i) => ({ path: `d/bad\\name${i}`, why: "backslash in path" }));
  const node = (name: string, extra: Record<string, unknown>) => ({
    name,
    state: "connected",
    address: "127.0.0.1",
    version: "1",
    connectedAt: 1,
    lastSeen: 2,
    groups: [],
    lastIntegrity: { at: Date.UTC(2026, 11, 8), durationMs: 5, ok: true, error: null, missing: 0, shared: 0, extra: 0, ...extra },
    lastInfo: null,
    lastError,
    ports: 0,
    record: null,
  });
  return statusSchema.parse({
    at: Date.UTC(2026, 11, 8),
    master: { name: "m", cluster: "falc", version: "1", listen: "127.0.0.1:1", dir: "/x", files: 1, bytes: 1, scannedAt: null },
    nodes: [node("node-a", refusedCount ? { refused, refused_count: refusedCount } : {}), node("node-b", {})],
    groupsHash: "h",
  });
}

test("the sync view names each node's refused entries and its last error", () => {
  const nodes = toSyncNodes(doc(2, { at: Date.UTC(2026, 11, 7), kind: "integrity", error: "commit failed at d/x: ENOSPC" }));
  const f = render(<SyncView nodes={nodes} theme={noColor} />).lastFrame() ?? "";
  expect(f).toContain("node-a  connected  2026-12-08T00:00:00.000Z  refused 2");
  expect(f).toContain("refused  d/bad\\name0  (backslash in path)");
  expect(f).toContain("refused  d/bad\\name1  (backslash in path)");
  expect(f).toContain("last error  2026-12-07T00:00:00.000Z  commit failed at d/x: ENOSPC");
  // A node without refused entries shows none.
  expect(f).toMatch(/node-b {2}connected {2}2026-12-08T00:00:00\.000Z\n/);
  expect(f).not.toContain("and 0 more");
});

test("many refused entries: the first few named, the rest counted", () => {
  const f = render(<SyncView nodes={toSyncNodes(doc(1234, null))} theme={noColor} />).lastFrame() ?? "";
  expect(f).toContain("refused 1234");
  expect(REFUSED_LINES).toBe(5); // the README's falc ui section says "the first 5 named"
  expect(f.match(/ {4}refused {2}/g)?.length).toBe(REFUSED_LINES);
  expect(f).toContain(`… and ${1234 - REFUSED_LINES} more (falc sync status)`);
  expect(f).not.toContain("last error");
});

test("no master reachable", () => {
  expect(render(<SyncView nodes={null} theme={noColor} />).lastFrame()).toContain("no master reachable");
});
