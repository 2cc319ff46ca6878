import { afterAll, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { freePort, runFalc, tempHome, waitFor } from "./helpers.ts";
import { fastConfig, spawnSync, type SyncProc } from "./sync-helpers.ts";

// README `falc sync` examples not run elsewhere: `keygen --out` as the cluster's key, `groups list`, and
// `groups set <node>` with no groups clearing the node's groups on the master and on the worker; and
// "What is synced": the master's symlinks skipped (logged), a worker's removed, its excluded files left alone.
const T = tempHome("falc-e2e-readme-sync-");
const lexists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};
const procs: SyncProc[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  T.cleanup();
});

test("keygen makes the key (64 hex, mode 600) a master and worker use; symlinks and excluded files; groups list shows what set assigned; set with no groups clears", async () => {
  const base = T.home;
  const key = join(base, "cluster.key");
  const kg = await runFalc(["sync", "keygen", "--out", key]);
  expect([kg.code, kg.stderr]).toEqual([0, ""]);
  expect(readFileSync(key, "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
  expect(statSync(key).mode & 0o777).toBe(0o600);
  const again = await runFalc(["sync", "keygen", "--out", join(base, "k2")]);
  expect(readFileSync(join(base, "k2"), "utf8")).not.toBe(readFileSync(key, "utf8")); // random, not derived
  expect(again.code).toBe(0);

  const M = join(base, "m");
  mkdirSync(M);
  writeFileSync(join(M, "a.txt"), "a\n");
  const env = { FALC_CONFIG: fastConfig(join(base, "falc.yaml")) };
  const port = await freePort();
  const mhome = join(base, "mhome");
  const master = spawnSync(["master", "--listen", `127.0.0.1:${port}`, "--dir", M, "--key-file", key], mhome, env);
  procs.push(master);
  await master.waitLog((l) => l.event === "master_started", "master started");
  symlinkSync("a.txt", join(M, "mlink")); // the master's symlinks are skipped, and said so
  const W = join(base, "w");
  mkdirSync(W);
  writeFileSync(join(W, "local.tmp"), "excluded (*.tmp): the worker's own, left alone\n");
  symlinkSync("/etc/passwd", join(W, "wlink")); // a worker's symlinks are removed
  const worker = spawnSync(["worker", "--master", `127.0.0.1:${port}`, "--dir", W, "--key-file", key, "--name", "node-2"], join(base, "whome"), env);
  procs.push(worker);
  await master.waitLog((l) => l.event === "sync_done" && l.node === "node-2", "node-2 synced");
  expect(readFileSync(join(W, "a.txt"), "utf8")).toBe("a\n");
  await master.waitLog((l) => l.event === "symlink_skipped" && l.path === "mlink", "the master names its skipped symlink");
  expect(existsSync(join(W, "mlink"))).toBe(false);
  expect(readFileSync(join(W, "local.tmp"), "utf8")).toContain("left alone");
  await waitFor(() => !lexists(join(W, "wlink")), 10_000, 100, "the worker's symlink removed");

  const m = { env: { ...env, FALC_HOME: mhome } };
  expect((await runFalc(["sync", "groups", "set", "node-2", "web", "scan"], m)).code).toBe(0);
  const list = await runFalc(["sync", "groups", "list"], m);
  expect([list.code, list.stderr]).toEqual([0, ""]);
  expect(list.stdout).toMatch(/^NODE\s+GROUPS\nnode-2\s+scan, web\n$/);
  const json = await runFalc(["sync", "groups", "list", "--json"], m);
  expect(JSON.parse(json.stdout)).toEqual({ "node-2": ["scan", "web"] });
  const groupsFile = join(base, "whome", "sync", "groups.json");
  const mine = () => (existsSync(groupsFile) ? JSON.parse(readFileSync(groupsFile, "utf8")).groups : null);
  await waitFor(() => mine()?.join() === "scan,web", 10_000, 100, "pushed to node-2");

  // `no groups clears`
  const clear = await runFalc(["sync", "groups", "set", "node-2"], m);
  expect([clear.code, clear.stderr]).toEqual([0, ""]);
  await waitFor(() => mine()?.length === 0, 10_000, 100, "node-2's groups cleared");
  expect(JSON.parse((await runFalc(["sync", "groups", "list", "--json"], m)).stdout)["node-2"] ?? []).toEqual([]);
}, 60_000);

test("a connection closed in the handshake is connect_failed (warn), a refusal master_refused (error); reconnects back off from 0.5 s up to reconnect_max_s", async () => {
  const base = join(T.home, "levels");
  mkdirSync(base, { recursive: true });
  const env = { FALC_CONFIG: fastConfig(join(base, "falc.yaml")) }; // reconnect_max_s: 1
  const key = join(base, "k");
  expect((await runFalc(["sync", "keygen", "--out", key])).code).toBe(0);
  // Something that accepts and closes at once, like a master going down.
  const closer = createServer((s) => s.destroy());
  await new Promise<void>((r) => closer.listen(0, "127.0.0.1", () => r()));
  try {
    const port = (closer.address() as { port: number }).port;
    const w = spawnSync(["worker", "--master", `127.0.0.1:${port}`, "--dir", join(base, "w"), "--key-file", key, "--name", "n1"], join(base, "wh"), env);
    procs.push(w);
    await waitFor(() => w.lines.filter((l) => l.event === "reconnecting").length >= 4, 15_000, 50, "four reconnects");
    const failed = w.lines.filter((l) => l.event === "connect_failed");
    expect(failed.length).toBeGreaterThanOrEqual(4);
    expect(failed.every((l) => l.level === 40)).toBe(true); // pino's warn
    expect(w.lines.filter((l) => l.event === "master_refused")).toEqual([]);
    const delays = w.lines.filter((l) => l.event === "reconnecting").map((l) => l.delay_ms as number);
    expect(delays[0]).toBeGreaterThanOrEqual(350); // 0.5 s less up to 30 % jitter
    expect(delays[0]).toBeLessThanOrEqual(500);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000); // reconnect_max_s
    expect(Math.max(...delays.slice(1))).toBeGreaterThan(500); // and it did grow
    await w.stop();
  } finally {
    closer.close();
  }
  // A real master with another key refuses: master_refused at error level.
  const M = join(base, "m");
  mkdirSync(M);
  const mport = await freePort();
  const other = join(base, "other.key");
  expect((await runFalc(["sync", "keygen", "--out", other])).code).toBe(0);
  const master = spawnSync(["master", "--listen", `127.0.0.1:${mport}`, "--dir", M, "--key-file", other], join(base, "mh"), env);
  procs.push(master);
  await master.waitLog((l) => l.event === "master_started", "master started");
  const wrong = spawnSync(["worker", "--master", `127.0.0.1:${mport}`, "--dir", join(base, "w2"), "--key-file", key, "--name", "n2"], join(base, "wh2"), env);
  procs.push(wrong);
  const refused = await wrong.waitLog((l) => l.event === "master_refused", "refused");
  expect(refused.level).toBe(50); // pino's error
}, 40_000);

test("the key never crosses the wire: a sync recorded between worker and master holds neither its bytes nor its hex", async () => {
  const base = join(T.home, "wire");
  const M = join(base, "m");
  mkdirSync(M, { recursive: true });
  writeFileSync(join(M, "f.txt"), "payload\n");
  const key = join(base, "k");
  expect((await runFalc(["sync", "keygen", "--out", key])).code).toBe(0);
  const hex = readFileSync(key, "utf8").trim();
  const env = { FALC_CONFIG: fastConfig(join(base, "falc.yaml")) };
  const mport = await freePort();
  const master = spawnSync(["master", "--listen", `127.0.0.1:${mport}`, "--dir", M, "--key-file", key], join(base, "mh"), env);
  procs.push(master);
  await master.waitLog((l) => l.event === "master_started", "master started");
  // A recording relay: every byte either way is kept.
  const seen: Buffer[] = [];
  const relay = createServer((c) => {
    const up = createConnection({ host: "127.0.0.1", port: mport });
    c.on("data", (b) => (seen.push(Buffer.from(b)), up.write(b)));
    up.on("data", (b) => (seen.push(Buffer.from(b)), c.write(b)));
    c.on("close", () => up.destroy());
    up.on("close", () => c.destroy());
    c.on("error", () => {});
    up.on("error", () => {});
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
  try {
    const port = (relay.address() as { port: number }).port;
    const r = await runFalc(["sync", "worker", "--master", `127.0.0.1:${port}`, "--dir", join(base, "w"), "--key-file", key, "--name", "n3", "--once"], { env: { ...env, FALC_HOME: join(base, "wh") } });
    expect([r.code, r.stderr.includes("Error")]).toEqual([0, false]);
    expect(readFileSync(join(base, "w", "f.txt"), "utf8")).toBe("payload\n");
    const wire = Buffer.concat(seen);
    expect(wire.length).toBeGreaterThan(100);
    expect(wire.includes(Buffer.from(hex, "hex"))).toBe(false);
    expect(wire.includes(Buffer.from(hex))).toBe(false);
    expect(wire.includes(Buffer.from("payload"))).toBe(false); // and the file went encrypted
  } finally {
    relay.close();
  }
}, 30_000);
