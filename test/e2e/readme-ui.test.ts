import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, runFalc, tempHome } from "./helpers.ts";
import { fastConfig, keyFile, spawnSync, type SyncProc } from "./sync-helpers.ts";
import { startUi, type TmuxUi } from "./ui-helpers.ts";

// The README's `falc ui` promises not proven elsewhere: the sync view's sources (--sync HOST:PORT
// --key-file F, this machine's node, "no master reachable" otherwise) and what it shows per node (the
// entries a node refuses), against a real master and worker; and the terminal restored on SIGHUP.
const T = tempHome("falc-e2e-readme-ui-");
const procs: SyncProc[] = [];
let ui: TmuxUi | null = null;
afterEach(() => {
  ui?.stop();
  ui = null;
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  T.cleanup();
});

test("sync view: nodes and the entries each refuses, from --sync, from this machine's master, or 'no master reachable'", async () => {
  const base = join(T.home, "s");
  const M = join(base, "master");
  mkdirSync(M, { recursive: true });
  writeFileSync(join(M, "ok.txt"), "fine\n");
  const key = keyFile(join(base, "cluster.key"));
  const cfg = fastConfig(join(base, "falc.yaml"));
  const env = { FALC_CONFIG: cfg };
  const port = await freePort();
  const mhome = join(base, "mhome");
  const master = spawnSync(["master", "--listen", `127.0.0.1:${port}`, "--dir", M, "--key-file", key], mhome, env);
  procs.push(master);
  await master.waitLog((l) => l.event === "master_started", "master started");
  const W = join(base, "w");
  mkdirSync(W, { recursive: true });
  writeFileSync(join(W, "local\\name"), "a name the worker refuses");
  const worker = spawnSync(["worker", "--master", `127.0.0.1:${port}`, "--dir", W, "--key-file", key, "--name", "w1"], join(base, "whome"), env);
  procs.push(worker);
  await master.waitLog((l) => l.event === "sync_done" && l.node === "w1", "w1 synced");
  await worker.waitLog((l) => l.event === "entry_refused", "w1 names its refused entry");
  await master.waitLog((l) => l.event === "sync_done" && l.node === "w1", "a round after the refusal", 20_000, master.lines.length);

  const uiHome = join(base, "uihome"); // a queue of its own: the sync data comes only from the master
  const viaSync = await runFalc(["ui", "--json", "--sync", `127.0.0.1:${port}`, "--key-file", key], { env: { ...env, FALC_HOME: uiHome } });
  expect(viaSync.stderr).toBe("");
  expect(viaSync.code).toBe(0);
  const node = JSON.parse(viaSync.stdout).sync.find((n: { name: string }) => n.name === "w1");
  expect(node).toMatchObject({ state: "connected", refusedCount: 1, refused: [{ path: "local\\name", why: expect.stringContaining("backslash") }], lastError: null });
  expect(node.lastSyncAt).toBeGreaterThan(0);

  // On the master's machine (its FALC_HOME) no address is needed.
  const local = await runFalc(["ui", "--json"], { env: { ...env, FALC_HOME: mhome } });
  expect(local.code).toBe(0);
  expect(JSON.parse(local.stdout).sync.map((n: { name: string }) => n.name)).toEqual(["w1"]);
  // Nothing to ask: null in the snapshot, "no master reachable" on the screen.
  const none = await runFalc(["ui", "--json"], { env: { FALC_HOME: join(base, "lonely") } });
  expect(none.code).toBe(0);
  expect(JSON.parse(none.stdout).sync).toBeNull();

  ui = await startUi(uiHome, ["--view", "sync", "--sync", `127.0.0.1:${port}`, "--key-file", key], { FALC_CONFIG: cfg });
  const pane = await ui.waitFor("refused  local\\name", 15_000, "the sync view names w1's refused entry");
  expect(pane).toMatch(/w1 {2}connected {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}refused 1/);
  expect(pane).toContain("(backslash in path)");
  ui.stop();
  ui = await startUi(join(base, "lonely"), ["--view", "sync"]);
  await ui.waitFor("no master reachable", 15_000, "no master");
}, 60_000);

test("SIGHUP (the terminal closed) ends the TUI and restores the terminal, as SIGTERM does", async () => {
  ui = await startUi(join(T.home, "hup"));
  await ui.waitFor("no workers registered", 15_000, "first paint");
  process.kill(ui.falcPid(), "SIGHUP");
  const pane = await ui.waitFor(/TTY_MODES/, 10_000, "exit");
  expect(pane).toContain("FALC_EXIT=0");
  expect(pane).toMatch(/TTY_MODES icanon echo/);
  expect(pane).not.toContain("no workers registered");
}, 30_000);

test("←/→ switch views as tab does (wrapping), --view starts on one, ctrl-c quits with the terminal restored", async () => {
  ui = await startUi(join(T.home, "keys"), ["--view", "queues"]);
  await ui.waitFor("[2 queues]", 15_000, "started on queues");
  ui.keys("Right");
  await ui.waitFor("[3 tasks]", 5_000, "→ to tasks");
  ui.keys("Left");
  ui.keys("Left");
  await ui.waitFor("[1 workers]", 5_000, "← ← to workers");
  ui.keys("Left");
  await ui.waitFor("[5 sync]", 5_000, "← wraps to sync");
  ui.keys("C-c");
  const pane = await ui.waitFor(/TTY_MODES/, 10_000, "exit");
  expect(pane).toContain("FALC_EXIT=0");
  expect(pane).toMatch(/TTY_MODES icanon echo/);
}, 30_000);
