import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { FALC, runFalc } from "./helpers.ts";
import { CutProxy } from "./sync-helpers.ts";
import { syncSuite } from "../sync/harness.ts";

// The small promises of the sync commands: a closed pipe, an unknown node, a busy port, a killed master.
// The tests share nothing but the temp home (a site each, own ports): they run at once.
const S = syncSuite("falc-e2e-sync-cli-");

test.concurrent("status into a closed pipe ends quietly; groups set refuses unknown nodes unless --allow-unknown; a killed master is a sync_failed", async () => {
  const site = await S.site("c");
  const { M, env, port, mhome } = site;
  writeFileSync(join(M, "big.bin"), randomBytes(3 << 20));
  const master = await S.startMaster(site);

  // The reader goes away before falc writes: exit 0, nothing on stderr.
  for (const args of [["sync", "status"], ["sync", "status", "--json"]]) {
    const p = Bun.spawnSync(["bash", "-c", `"${FALC}" ${args.join(" ")} | true; echo "rc=\${PIPESTATUS[0]}" >&2`], { env: { ...process.env, ...env, FALC_HOME: mhome } });
    expect(p.stderr.toString()).toBe("rc=0\n");
  }
  const head = Bun.spawnSync(["bash", "-c", `"${FALC}" sync status | head -1`], { env: { ...process.env, ...env, FALC_HOME: mhome } });
  expect(head.exitCode).toBe(0);
  expect(head.stderr.toString()).toBe("");
  expect(head.stdout.toString()).toStartWith("master master");

  const ghost = await runFalc(["sync", "groups", "set", "ghost-node", "web"], { env: { ...env, FALC_HOME: mhome } });
  expect(ghost.code).toBe(2);
  expect(ghost.stderr).toContain("node `ghost-node` has never connected to this master");
  expect(ghost.stderr).toContain("--allow-unknown");
  const early = await runFalc(["sync", "groups", "set", "ghost-node", "web", "--allow-unknown", "--json"], { env: { ...env, FALC_HOME: mhome } });
  expect(early.code).toBe(0);
  expect(JSON.parse(early.stdout).groups).toEqual(["web"]);

  // A worker behind a slow link; the master dies mid-transfer: the worker says the sync failed.
  const proxy = new CutProxy(port);
  proxy.rate = 256 * 1024;
  const pport = await proxy.listen();
  const W = join(site.base, "w", "tree");
  const worker = S.worker(site, "w1", { port: pport, dir: W, home: join(site.base, "whome") });
  await master.waitLog((l) => l.event === "transfer_start" && l.node === "w1", "transfer started");
  await master.stop("SIGKILL");
  const failed = await worker.waitLog((l) => l.event === "sync_failed", "worker logs sync_failed");
  expect(failed.msg).toContain("lost the master");
  expect(failed.level).toBe(40);
  expect(worker.lines.filter((l) => l.event === "master_refused")).toEqual([]);
  expect(existsSync(join(W, "big.bin"))).toBe(false);
  proxy.close();
}, 90_000);

test.concurrent("a port in use is reported before the tree is hashed", async () => {
  const { M, key, mhome } = await S.site("p");
  for (let i = 0; i < 50; i++) writeFileSync(join(M, `f${i}`), randomBytes(1000));
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  const port = (busy.address() as { port: number }).port;
  const r = await runFalc(["sync", "master", "--listen", `127.0.0.1:${port}`, "--dir", M, "--key-file", key], { env: { FALC_HOME: mhome } });
  busy.close();
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
  // No walk happened: the master's hash cache was never written.
  const syncHome = join(mhome, "sync");
  expect(existsSync(syncHome) ? readdirSync(syncHome).filter((n) => n.startsWith("master-cache-")) : []).toEqual([]);
}, 30_000);

test.concurrent("a --once sync that takes longer than drop_after_s keeps its session: keep-alives go up during the transfer", async () => {
  const site = await S.site("o");
  const { base, M, key, env, cfg } = site;
  // A worker silent for 2.5 s is dropped (keep-alives every 0.5 s); the transfer takes twice that.
  writeFileSync(cfg, readFileSync(cfg, "utf8").replace("drop_after_s: 4", "drop_after_s: 2.5"));
  writeFileSync(join(M, "big.bin"), randomBytes(5 << 18));
  const master = await S.startMaster(site);
  const proxy = new CutProxy(site.port);
  proxy.rate = 256 * 1024; // 1.25 MiB: about 5 s, twice drop_after_s
  const pport = await proxy.listen();
  try {
    const r = await runFalc(["sync", "worker", "--once", "--json", "--master", `127.0.0.1:${pport}`, "--dir", join(base, "w", "tree"), "--key-file", key, "--name", "slow"], {
      env: { ...env, FALC_HOME: join(base, "whome") },
    });
    expect(r.stderr.split("\n").filter((l) => /"level":[4-6]0/.test(l))).toEqual([]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, files: 1 });
    expect(master.lines.filter((l) => l.event === "node_dropped")).toEqual([]);
  } finally {
    proxy.close();
  }
}, 60_000);
