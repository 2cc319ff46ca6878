import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { groupsDelta, groupsHash, WorkerGroups, type Assignments } from "./groups.ts";

const tmp = mkdtempSync(join(tmpdir(), "falc-sync-groups-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const push = (sent: Assignments | null, now: Assignments) => ({ ...groupsDelta(sent, now), hash: groupsHash(now), definitions: { web: { stages: ["scan"], profiles: ["web"] } } });

describe("groups", () => {
  test("the hash ignores order and empty assignments; deltas carry only changes", () => {
    expect(groupsHash({ a: ["x", "y"], b: [] })).toBe(groupsHash({ a: ["y", "x"] }));
    expect(groupsHash({ a: ["x"] })).not.toBe(groupsHash({ a: ["y"] }));
    expect(groupsDelta(null, { a: ["x"] })).toEqual({ set: { a: ["x"] }, removed: [], full: true });
    expect(groupsDelta({ a: ["x"], b: ["y"] }, { a: ["x"], c: ["z"] })).toEqual({ set: { c: ["z"] }, removed: ["b"], full: false });
  });

  test("a worker applies pushes into its file; a hash that keeps differing asks for a full resync at the limit", () => {
    const path = join(tmp, "groups.json");
    const w = new WorkerGroups(path, "w1");
    const t1 = { w1: ["web"], w2: ["scan"] };
    expect(w.apply(push(null, t1), 3).result).toBe("ok");
    expect(JSON.parse(readFileSync(path, "utf8")).groups).toEqual(["web"]);
    const t2 = { w1: ["scan", "web"], w2: ["scan"] };
    const r = w.apply(push(t1, t2), 3);
    expect(r).toMatchObject({ result: "ok", changed: true });
    expect(r.file.groups).toEqual(["scan", "web"]);

    // Someone edits the worker's copy: the next pushes (no changes) disagree with the master's hash.
    const doc = JSON.parse(readFileSync(path, "utf8"));
    doc.assignments.ghost = ["x"];
    writeFileSync(path, JSON.stringify(doc));
    expect(w.apply(push(t2, t2), 3).result).toBe("mismatch");
    expect(w.apply(push(t2, t2), 3).result).toBe("mismatch");
    expect(w.apply(push(t2, t2), 3).result).toBe("resync");
    // The full table replaces the copy and agrees again.
    expect(w.apply({ ...push(null, t2), full: true }, 3).result).toBe("ok");
    expect(JSON.parse(readFileSync(path, "utf8")).assignments).toEqual(t2);
  });
});
