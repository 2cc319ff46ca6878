import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { silentLogger } from "../../src/core/logger.ts";
import { parseKey } from "../../src/sync/crypto.ts";
import { encodeHeader } from "../../src/sync/frame.ts";
import { clientHandshake, serverHandshake } from "../../src/sync/handshake.ts";
import { encodeJson } from "../../src/sync/protocol.ts";
import { DEFAULT_LIMITS, RemoteError, Session } from "../../src/sync/session.ts";
import { freePort, runFalc, waitFor } from "./helpers.ts";
import { keyFile, mirrored, waitMirrored, type SyncProc } from "./sync-helpers.ts";
import { syncSuite, type SyncSite } from "../sync/harness.ts";

/**
 * Hostile peers against real `falc sync` processes: each is refused with a log line, and the master
 * (or worker) keeps running and keeps its honest peers in sync.
 */
const S = syncSuite("falc-e2e-syncsec-");
let site: SyncSite;
let port: number;
let key: string;
let env: Record<string, string>;
let master: SyncProc;
let M: string;
let W1: string;

beforeAll(async () => {
  site = await S.site("");
  ({ port, key, env, M } = site);
  W1 = join(site.base, "w1", "tree");
  writeFileSync(join(S.home, "seed"), "");
  await Bun.write(join(M, "rules", "a.yar"), "rule a { condition: true }\n");
  master = await S.startMaster(site);
  S.worker(site, "w1");
  await waitMirrored(M, W1, "w1 in sync");
});

async function raw(): Promise<Socket> {
  const s = createConnection({ host: "127.0.0.1", port });
  await new Promise((r) => s.once("connect", r));
  return s;
}

const closed = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r())));

/** An authenticated worker session played by the test (the real key, a name of its own). */
async function evilWorker(name: string): Promise<Session> {
  const s = new Session(await raw(), DEFAULT_LIMITS, silentLogger);
  await clientHandshake(s, { key: parseKey(readFileSync(key, "utf8")), name, cluster: "falc", role: "worker", timeoutMs: 5000 });
  s.onMessage = () => {};
  return s;
}

describe("falc sync refuses hostile peers and keeps running", () => {
  test("wrong key, other cluster, duplicate name: refused with a clear line on both sides", async () => {
    const badKey = keyFile(join(S.home, "other.key"));
    const from = master.lines.length;
    const wrong = S.worker(site, "wk", { dir: join(S.home, "wk"), key: badKey });
    await master.waitLog((l) => l.event === "node_refused" && l.code === "key", "master logs the wrong key", 10_000, from);
    const wl = await wrong.waitLog((l) => l.event === "master_refused", "worker logs the refusal");
    expect(wl.msg).toMatch(/wrong cluster key/);
    const other = S.worker(site, "wc", { dir: join(S.home, "wc"), args: ["--cluster", "other"] });
    await master.waitLog((l) => l.event === "node_refused" && l.code === "cluster", "other cluster refused", 10_000, from);
    const dup = S.worker(site, "w1", { dir: join(S.home, "wd"), home: join(S.home, "wdhome") });
    await master.waitLog((l) => l.event === "node_refused" && l.code === "duplicate", "duplicate name refused", 10_000, from);
    // The refused workers keep retrying (they keep running); the real w1 never noticed.
    expect(wrong.alive() && other.alive() && dup.alive()).toBe(true);
    expect(existsSync(join(S.home, "wk", "rules"))).toBe(false);
    await Promise.all([wrong.stop(), other.stop(), dup.stop()]);
  }, 40_000);

  test("garbage bytes, an oversized frame, and a silent connection are cut", async () => {
    const from = master.lines.length;
    const g = await raw();
    g.write("GET / HTTP/1.1\r\nHost: falc\r\n\r\n");
    await closed(g);
    await master.waitLog((l) => l.event === "frame_refused" && l.reason === "garbage", "garbage refused", 5000, from);
    const o = await raw();
    o.write(encodeHeader(1, 0xfffffff0, "hello", false));
    await closed(o);
    await master.waitLog((l) => l.event === "frame_refused" && l.reason === "oversized", "oversized refused", 5000, from);
    const t0 = Date.now();
    const silent = await raw();
    await closed(silent);
    expect(Date.now() - t0).toBeLessThan(6000); // preauth_s: 2
  }, 20_000);

  test("a replayed, a tampered and an oversized frame after the handshake end that session", async () => {
    for (const [what, reason] of [["replayed", "auth"], ["tampered", "auth"], ["oversized", "oversized"]] as const) {
      const s = await evilWorker(`evil-${what}`);
      expect((await s.request("keepalive", encodeJson({}))).length).toBeGreaterThan(0);
      const from = master.lines.length;
      const frame = s.sealFrame("keepalive", encodeJson({}));
      if (what === "replayed") {
        s.writeRaw(frame);
        s.writeRaw(frame); // the same bytes again
      } else if (what === "tampered") {
        frame[frame.length - 1] ^= 0x01; // the GCM tag
        s.writeRaw(frame);
      } else s.writeRaw(encodeHeader(s.nextCounter(), 64 * 1024 * 1024, "info", false));
      await waitFor(() => s.closed, 5000, 20, `${what} frame closes the session`);
      await master.waitLog((l) => l.event === "frame_refused" && l.reason === reason && l.node === `evil-${what}`, `${what} logged`, 5000, from);
    }
  }, 30_000);

  test("a worker that falls silent is dropped by the master", async () => {
    const from = master.lines.length;
    const s = await evilWorker("evil-silent");
    await master.waitLog((l) => l.event === "node_dropped" && l.node === "evil-silent", "silent worker dropped", 15_000, from);
    await waitFor(() => s.closed, 5000, 50, "session closed");
  }, 20_000);

  test("`../` names from a worker are refused; the session and the master carry on", async () => {
    const s = await evilWorker("evil-paths");
    const digest = "0".repeat(64);
    for (const p of ["../escape", "a/../../escape", "/etc/passwd"]) {
      const body = encodeJson({ digest, count: 1, files: [[p, "f", 1, 0o644, 1, "a".repeat(64)]] });
      const err = await s.request("integrity", body).catch((e) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).message).toMatch(/refused path/);
    }
    expect(s.closed).toBe(false);
    s.close("done");
  });

  test("a master sending `../` names: the worker refuses the transfer, writes nothing outside, keeps running", async () => {
    const fport = await freePort();
    const k = parseKey(readFileSync(key, "utf8"));
    let refusedPlans = 0;
    const server = createServer((sock) => {
      const s = new Session(sock, DEFAULT_LIMITS, silentLogger);
      serverHandshake(s, { key: k, name: "fake", cluster: "falc", settings: { exclude: [], keepalive_s: 1, interval_s: 0.3, mismatch_limit: 3 }, timeoutMs: 5000, admit: () => null })
        .then(() => {
          s.onMessage = (m) => {
            if (m.cmd === "integrity") {
              s.reply(m.counter, encodeJson({ transfer: 7, missing: 1, shared: 0, extra: 0, bytes: 4 }));
              const plan = { id: 7, files: [["../escape.txt", "f", 4, 0o644, 1, "b".repeat(64)]], dirs: [], remove: [], missing: 1, shared: 0, extra: 0 };
              s.send("sync_start", encodeJson(plan), 7);
              s.send("sync_data", Buffer.concat([Buffer.from([0]), Buffer.from("evil")]), 7);
              s.send("sync_end", encodeJson({ id: 7, bytes: 4, chunks: 1 }), 7);
              refusedPlans++;
            } else if (m.cmd !== "keepalive") s.reply(m.counter, encodeJson({}));
            else s.reply(m.counter, encodeJson({ at: Date.now() }));
          };
        })
        .catch(() => {});
    });
    await new Promise<void>((r) => server.listen(fport, "127.0.0.1", () => r()));
    const WF = join(S.home, "wf", "tree");
    const wf = S.worker(site, "wf", { port: fport, dir: WF });
    const l = await wf.waitLog((x) => x.event === "transfer_refused", "transfer refused");
    expect(l.reason).toMatch(/refused path `..\/escape.txt`/);
    await wf.waitLog((x) => x.event === "sync_failed", "round reported failed");
    expect(refusedPlans).toBeGreaterThan(0);
    expect(existsSync(join(S.home, "wf", "escape.txt"))).toBe(false);
    expect(existsSync(join(WF, "..", "escape.txt"))).toBe(false);
    expect(wf.alive()).toBe(true);
    server.close();
    await wf.stop();
  }, 30_000);

  test("through all of it the master kept w1 in sync and answers status", async () => {
    await Bun.write(join(M, "rules", "b.yar"), "rule b { condition: false }\n");
    await waitMirrored(M, W1, "w1 still syncs");
    expect(mirrored(M, W1)).toBe(true);
    const st = await runFalc(["sync", "status", "--json", "--master", `127.0.0.1:${port}`, "--key-file", key], { env });
    expect(st.code).toBe(0);
    const nodes = JSON.parse(st.stdout).nodes;
    expect(nodes.find((n: any) => n.name === "w1").state).toBe("connected");
    expect(nodes.some((n: any) => n.name === "wk")).toBe(false);
    expect(master.alive()).toBe(true);
    // A key file others can read is refused before anything starts.
    const { chmodSync } = await import("node:fs");
    const loose = keyFile(join(S.home, "loose.key"));
    chmodSync(loose, 0o644);
    const r = await runFalc(["sync", "status", "--master", `127.0.0.1:${port}`, "--key-file", loose], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/chmod 600/);
  }, 30_000);
});
