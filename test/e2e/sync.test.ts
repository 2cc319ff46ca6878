import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { runFalc, waitFor } from "./helpers.ts";
import { Ledger } from "../../src/scan/ledger.ts";
import { CutProxy, mirrored, treeHash, treeState, waitMirrored } from "./sync-helpers.ts";
import { syncSuite } from "../sync/harness.ts";

// The tests share nothing but the temp home (a site each, own ports): they run at once.
const S = syncSuite("falc-e2e-sync-");

function write(root: string, rel: string, content: string | Buffer, mode?: number): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), content);
  if (mode !== undefined) chmodSync(join(root, rel), mode);
}

describe("falc sync: a master and two workers on loopback", () => {
  test.concurrent("workers mirror the tree; edits, adds, deletes and modes arrive; local edits are overwritten; status, groups, mismatch resync, master restart", async () => {
    // zstd forced: on loopback `auto` sends raw blocks (the cut-connection test below covers those).
    const site = await S.site("a", { configExtra: "  compress: zstd\n" });
    const { base, M, key, env, port, mhome } = site;
    write(M, "profiles/web.yaml", "ports: 80,443\n");
    write(M, "profiles/fast.yaml", "top_ports: 100\n", 0o600);
    write(M, "plugins/run.sh", "#!/bin/sh\necho hi\n", 0o755);
    write(M, "rules/deep/nested/r1.yar", randomBytes(200_000));
    write(M, "empty.txt", "");
    mkdirSync(join(M, "empty-dir"));
    chmodSync(join(M, "rules"), 0o750);
    // Over 256 entries: a worker's later checks narrow down by directory digests (small trees send the whole list at once).
    for (let i = 0; i < 300; i++) write(M, `many/${i % 3}/f${i}`, `file ${i}\n`);
    let master = await S.startMaster(site);

    // w1 has scanned before: its ledger rows go up to the master and are marked synced once acked.
    const ledger = Ledger.open(join(base, "w1home"));
    ledger.importHosts("acme", [{ ip: "10.9.0.1", addrtype: "ipv4", status: "up", hostnames: [], ports: [80, 443, 8443].map((port) => ({ proto: "tcp" as const, port, state: "open", service: "https" })) }], "update");
    ledger.close();
    const W1 = join(base, "w1", "tree");
    const W2 = join(base, "w2", "tree");
    const w1 = S.worker(site, "w1");
    const w2 = S.worker(site, "w2");
    await waitMirrored(M, W1, "w1 mirrors the master");
    await waitMirrored(M, W2, "w2 mirrors the master");
    expect(treeState(W1)).toContain("profiles/fast.yaml f 600 " + treeState(M).find((l) => l.startsWith("profiles/fast.yaml"))!.split(" ")[3]);
    expect(treeState(W1)).toContain("rules d 750");

    // Edits, adds, deletes (a whole directory), a mode change; excluded files and symlinks stay on the master.
    write(M, "profiles/web.yaml", "ports: 80,443,8080\n");
    write(M, "profiles/new.yaml", "ports: 22\n");
    rmSync(join(M, "rules", "deep"), { recursive: true });
    chmodSync(join(M, "plugins/run.sh"), 0o700);
    write(M, "scratch.tmp", "excluded");
    symlinkSync("/etc/passwd", join(M, "link"));
    const expected = () => treeState(M).filter((l) => !l.startsWith("scratch.tmp") && !l.startsWith("link "));
    const same = (w: string) => {
      try {
        return treeState(w).join() === expected().join();
      } catch {
        return false; // a file vanished under the walk: a commit in progress
      }
    };
    await waitFor(() => same(W1) && same(W2), 20_000, 100, "changes arrive");
    expect(existsSync(join(W1, "scratch.tmp")) || existsSync(join(W1, "link"))).toBe(false);
    rmSync(join(M, "scratch.tmp"));
    rmSync(join(M, "link"));

    // A worker's local edit and a stray file are overwritten and removed.
    write(W1, "profiles/web.yaml", "ports: 1-65535\n");
    write(W1, "stray/file", "not from the master");
    await waitMirrored(M, W1, "local edit overwritten");

    // Status from the master, and through a worker that forwards it.
    const st = await runFalc(["sync", "status", "--json"], { env: { FALC_HOME: mhome, ...env } });
    expect(st.code).toBe(0);
    const doc = JSON.parse(st.stdout);
    expect(doc.nodes.map((n: any) => [n.name, n.state])).toEqual([["w1", "connected"], ["w2", "connected"]]);
    expect(doc.nodes[0].lastIntegrity).toMatchObject({ ok: true });
    expect(doc.nodes[0].lastIntegrity.durationMs).toBeGreaterThan(0);
    expect(doc.nodes[0].record.version).toBeDefined();
    expect(doc.nodes[0].ports).toBe(3);
    const l2 = Ledger.open(join(base, "w1home"));
    expect(l2.pendingSync().rows).toEqual([]);
    l2.close();
    const via = await runFalc(["sync", "status", "--json"], { env: { FALC_HOME: w2.home, ...env } });
    expect(via.code).toBe(0);
    expect(JSON.parse(via.stdout)).toMatchObject({ via: "w2", master: { listen: `127.0.0.1:${port}` } });
    const table = await runFalc(["sync", "status"], { env: { FALC_HOME: mhome, ...env } });
    expect(table.stdout).toMatch(/w1\s+connected/);

    // The TUI's sync view gets the same nodes from the status client.
    const ui = await runFalc(["ui", "--json", "--sync", `127.0.0.1:${port}`, "--key-file", key], { env: { FALC_HOME: mhome, ...env } });
    expect(ui.code).toBe(0);
    expect(JSON.parse(ui.stdout).sync.map((n: any) => n.name)).toEqual(["w1", "w2"]);

    // A group change reaches the workers.
    const g = await runFalc(["sync", "groups", "set", "w1", "web", "scan", "--json"], { env: { FALC_HOME: mhome, ...env } });
    expect(JSON.parse(g.stdout)).toMatchObject({ node: "w1", groups: ["scan", "web"], pushed: true });
    const groupsOf = (home: string) => (existsSync(join(home, "sync", "groups.json")) ? JSON.parse(readFileSync(join(home, "sync", "groups.json"), "utf8")) : null);
    await waitFor(() => groupsOf(w1.home)?.groups?.join() === "scan,web", 10_000, 100, "w1 gets its groups");
    await waitFor(() => groupsOf(w2.home)?.assignments?.w1?.join() === "scan,web", 10_000, 100, "w2 sees w1's groups");
    expect(groupsOf(w2.home).groups).toEqual([]);

    // A worker whose table keeps disagreeing with the master's hash asks for the full table after 3 pushes.
    const doc2 = groupsOf(w2.home);
    doc2.assignments.ghost = ["x"];
    writeFileSync(join(w2.home, "sync", "groups.json"), JSON.stringify(doc2));
    const from = w2.lines.length;
    await w2.waitLog((l) => l.event === "groups_full_resync", "full groups resync", 10_000, from);
    await waitFor(() => !groupsOf(w2.home)?.assignments?.ghost, 10_000, 100, "ghost group gone");

    // Master restart: the tree changes while it is down; workers keep running, reconnect and resync.
    await master.stop("SIGKILL");
    write(M, "profiles/after-restart.yaml", "ports: 3306\n");
    await Bun.sleep(500);
    expect(w1.alive() && w2.alive()).toBe(true);
    const f1 = w1.lines.length;
    master = S.master(site);
    await w1.waitLog((l) => l.event === "worker_connected", "w1 reconnects", 20_000, f1);
    await waitMirrored(M, W1, "w1 resynced after the restart");
    await waitMirrored(M, W2, "w2 resynced after the restart");
    await master.stop();
    await Promise.all([w1.stop(), w2.stop()]);
  }, 90_000);
});

describe("falc sync: the connection cut mid-transfer leaves the worker tree all old or all new", () => {
  test.concurrent("a proxy cutting the bytes, then kill -9 of the master", async () => {
    const site = await S.site("b");
    const { M, cfg } = site;
    // Keep-alive silence window (2 x 3 s) longer than a throttled transfer's gaps.
    writeFileSync(cfg, readFileSync(cfg, "utf8").replace("keepalive_s: 0.5", "keepalive_s: 3").replace("drop_after_s: 4", "drop_after_s: 10"));
    const version = (v: string) => {
      for (let i = 0; i < 40; i++) write(M, `data/f${i}.bin`, Buffer.concat([Buffer.from(v), randomBytes(256 * 1024)]));
      write(M, `only-in-${v}.txt`, v);
      for (const old of ["A", "B", "C"]) if (old !== v) rmSync(join(M, `only-in-${old}.txt`), { force: true });
    };
    version("A");
    let master = await S.startMaster(site);
    const proxy = new CutProxy(site.port);
    const pport = await proxy.listen();
    const W = join(site.base, "w", "tree");
    const w = S.worker(site, "w", { port: pport });
    await waitMirrored(M, W, "first sync");
    await w.waitLog((l) => l.event === "sync_done", "first sync logged");
    const hashA = treeHash(W);

    // B through a slow link; cut every byte stream once a megabyte of it went through.
    proxy.rate = 4 * 1024 * 1024;
    const down0 = proxy.down;
    const l0 = w.lines.length;
    version("B");
    const hashB = treeHash(M);
    await waitFor(() => proxy.down - down0 > 1024 * 1024, 20_000, 10, "transfer under way");
    proxy.refuse = true;
    proxy.cutAll();
    await w.waitLog((l) => l.event === "master_lost" || l.event === "sync_failed", "worker notices", 10_000);
    expect(treeHash(W)).toBe(hashA);
    expect(w.lines.slice(l0).some((l) => l.event === "sync_done")).toBe(false);
    await Bun.sleep(300);
    expect(treeHash(W)).toBe(hashA);
    expect(w.alive()).toBe(true);
    proxy.rate = 0;
    proxy.refuse = false;
    const lb = w.lines.length;
    await waitFor(() => treeHash(W) === hashB, 30_000, 100, "B after the link is back");
    // The tree is renamed into place just before the worker logs it: wait for the line too.
    await w.waitLog((l) => l.event === "sync_done", "B's sync logged", 10_000, lb);

    // C: kill -9 the master in the middle of the transfer.
    proxy.rate = 4 * 1024 * 1024;
    const down1 = proxy.down;
    const l1 = w.lines.length;
    version("C");
    const hashC = treeHash(M);
    await waitFor(() => proxy.down - down1 > 1024 * 1024, 20_000, 10, "transfer under way");
    await master.stop("SIGKILL");
    proxy.cutAll();
    await Bun.sleep(500);
    expect(treeHash(W)).toBe(hashB);
    expect(w.lines.slice(l1).some((l) => l.event === "sync_done")).toBe(false);
    proxy.rate = 0;
    master = S.master(site);
    await waitFor(() => treeHash(W) === hashC, 30_000, 100, "C after the master is back");
    expect(mirrored(M, W)).toBe(true);
    await Promise.all([master.stop(), w.stop()]);
    proxy.close();
  }, 120_000);
});
