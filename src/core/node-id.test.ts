import { expect, test } from "bun:test";
import { mkdtempSync, symlinkSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "./config.ts";
import { FalcError } from "./errors.ts";
import { NODE_ID_RE, nodeFingerprint, nodeId } from "./node-id.ts";

test("the default is the host name and a hash of FALC_HOME: stable, and apart for another home", () => {
  const a = mkdtempSync(join(tmpdir(), "falc-node-"));
  const b = mkdtempSync(join(tmpdir(), "falc-node-"));
  const id = nodeId({ home: a });
  expect(id.startsWith(hostname().replace(/[^A-Za-z0-9._-]/g, "-"))).toBe(true);
  expect(id).toMatch(NODE_ID_RE);
  expect(nodeId({ home: a })).toBe(id);
  expect(nodeId({ home: b })).not.toBe(id);
  // The same home reached through a symlink is the same node.
  const link = join(tmpdir(), `falc-node-link-${process.pid}`);
  symlinkSync(a, link);
  expect(nodeId({ home: link })).toBe(id);
  expect(nodeFingerprint(link)).toBe(nodeFingerprint(a));
  expect(nodeFingerprint(b)).not.toBe(nodeFingerprint(a));
});

test("node: in the config or FALC_NODE names the node", () => {
  const home = mkdtempSync(join(tmpdir(), "falc-node-"));
  expect(nodeId({ home, node: "scan-7" })).toBe("scan-7");
  const cfg = loadConfig({ home }, { FALC_NODE: "edge-2" });
  expect(nodeId(cfg)).toBe("edge-2");
});

test("a node id that is not a plain name is a config error (exit 2) naming the key", () => {
  let err: unknown;
  try {
    loadConfig({}, { FALC_NODE: "bad name;rm" });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FalcError);
  expect((err as FalcError).exitCode).toBe(2);
  expect((err as Error).message).toContain("`node`");
});
