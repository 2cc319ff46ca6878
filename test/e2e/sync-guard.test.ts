import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFalc, waitFor } from "./helpers.ts";
import { snapshot, synced as refusedLess } from "./sync-fuzz.ts";
import { syncSuite } from "../sync/harness.ts";

// What one bad entry, a second process and a damaged journal do to a worker: the README's
// "One bad entry never blocks the others", "one worker process per tree" and "--recover".
const S = syncSuite("falc-e2e-sync-guard-");

/** The tree less what is never synced, as text (equal text, equal trees). */
const synced = (root: string) => JSON.stringify([...refusedLess(snapshot(root))]);

test("refused entries are named and skipped, everything else syncs; one worker per tree; an unreadable journal stops it until --recover", async () => {
  const site = await S.site("g");
  const { base, M, key, env, port, mhome } = site;
  mkdirSync(join(M, "d"), { recursive: true });
  writeFileSync(join(M, "ok.txt"), "fine\n");
  writeFileSync(join(M, "d", "also.txt"), "fine too\n");
  writeFileSync(join(M, "back\\slash.txt"), "refused\n");
  writeFileSync(Buffer.from(`${M}/d/caf\xe9.txt`, "latin1"), "not UTF-8\n");
  expect(Bun.spawnSync(["mkfifo", join(M, "pipe")]).exitCode).toBe(0);
  const master = await S.startMaster(site);
  for (const p of ["back\\slash.txt", "d/caf\\xe9.txt", "pipe"]) await master.waitLog((l) => l.event === "entry_refused" && l.path === p, `master names ${p}`);

  const W = join(base, "w", "tree");
  mkdirSync(W, { recursive: true });
  writeFileSync(join(W, "local\\name"), "the worker's own refused name");
  const whome = join(base, "whome");
  const worker = S.worker(site, "w1", { dir: W, home: whome });
  await waitFor(() => synced(W) === synced(M), 20_000, 100, "everything but the refused entries synced");
  await worker.waitLog((l) => l.event === "entry_refused" && l.path === "local\\name", "worker names its own refused entry");
  expect(existsSync(join(W, "local\\name"))).toBe(true);

  // The next rounds find nothing to send: the refused entries do not make the master re-send anything.
  const from = master.lines.length;
  await master.waitLog((l) => l.event === "sync_done" && l.node === "w1", "another round", 20_000, from);
  await master.waitLog((l) => l.event === "sync_done" && l.node === "w1", "and another", 20_000, master.lines.length);
  expect(master.lines.slice(from).filter((l) => l.event === "transfer_start")).toEqual([]);

  const st = await runFalc(["sync", "status", "--json"], { env: { ...env, FALC_HOME: mhome } });
  expect(st.code).toBe(0);
  const doc = JSON.parse(st.stdout);
  expect(doc.master.refusedCount).toBe(3);
  expect(doc.master.refused.map((x: { path: string }) => x.path).sort()).toEqual(["back\\slash.txt", "d/caf\\xe9.txt", "pipe"]);
  const node = doc.nodes.find((n: { name: string }) => n.name === "w1");
  expect(node.lastIntegrity.refused_count).toBe(1);
  expect(node.lastIntegrity.refused[0].path).toBe("local\\name");
  const table = await runFalc(["sync", "status"], { env: { ...env, FALC_HOME: mhome } });
  expect(table.stdout).toContain("not synced from the master's tree: back\\slash.txt");
  expect(table.stdout).toMatch(/w1 .*1 \(local\\name\)/);

  // A second worker process on the same tree: one line, exit 2, and the daemon goes on.
  const second = await runFalc(["sync", "worker", "--master", `127.0.0.1:${port}`, "--dir", W, "--key-file", key, "--name", "w2", "--once"], { env: { ...env, FALC_HOME: join(base, "w2home") } });
  expect(second.code).toBe(2);
  expect(second.stderr.trim().split("\n")).toHaveLength(1);
  expect(second.stderr).toMatch(new RegExp(`another falc sync worker is already running on ${W.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(pid ${worker.proc.pid}\\)`));
  expect(worker.alive()).toBe(true);

  // An unreadable journal: the worker stops with the reason and keeps the backups; --recover sets them aside.
  await worker.stop();
  const sd = join(base, "w", ".tree.falc-sync");
  writeFileSync(join(sd, "journal.json"), '{"v":1,"ops":[{"t":"rm"');
  mkdirSync(join(sd, "backup"), { recursive: true });
  writeFileSync(join(sd, "backup", "0"), "an old file only the journal knows where to put");
  const args = ["sync", "worker", "--master", `127.0.0.1:${port}`, "--dir", W, "--key-file", key, "--name", "w1", "--once"];
  const stopped = await runFalc(args, { env: { ...env, FALC_HOME: whome } });
  expect(stopped.code).toBe(1);
  expect(stopped.stderr).toMatch(/commit journal .* cannot be read .*backups are kept .*--recover/);
  expect(existsSync(join(sd, "backup", "0"))).toBe(true);
  const rec = await runFalc([...args, "--recover"], { env: { ...env, FALC_HOME: whome } });
  expect(rec.code).toBe(0);
  const kept = readdirSync(sd).find((n) => n.startsWith("backup.kept-"));
  expect(kept).toBeDefined();
  expect(readdirSync(join(sd, kept!))).toEqual(["0"]);
  expect(readdirSync(sd).some((n) => n.startsWith("journal.json.unreadable-"))).toBe(true);
  expect(synced(W)).toBe(synced(M));
}, 120_000);
