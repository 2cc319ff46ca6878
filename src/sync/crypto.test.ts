import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hkdfSync, randomBytes } from "node:crypto";
import { createServer, createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../core/logger.ts";
import { AuthError, Ephemeral, generateKey, loadKeyFile, Opener, parseKey, proof, proofMatches, Sealer, sessionKeys, transcript } from "./crypto.ts";
import { encodeHeader, FrameReader, type Frame } from "./frame.ts";
import { clientHandshake, HandshakeRefused, serverHandshake } from "./handshake.ts";
import { DEFAULT_LIMITS, Session } from "./session.ts";

const dir = mkdtempSync(join(tmpdir(), "falc-sync-crypto-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("cluster key", () => {
  test("64 hex characters or base64 of 32 bytes; short, patterned or non-key text refused", () => {
    const hex = generateKey();
    expect(parseKey(hex).length).toBe(32);
    expect(parseKey(Buffer.from(hex, "hex").toString("base64")).equals(Buffer.from(hex, "hex"))).toBe(true);
    expect(() => parseKey("abcd")).toThrow(/at least 32/);
    expect(() => parseKey("00".repeat(32))).toThrow(/weak/);
    expect(() => parseKey("0123456789abcdef".repeat(4))).toThrow(/weak/);
    expect(() => parseKey("correct horse battery staple")).toThrow(/not a cluster key/);
  });

  test("a key file others can read is refused with the chmod to run", () => {
    const p = join(dir, "k");
    writeFileSync(p, generateKey());
    chmodSync(p, 0o644);
    expect(() => loadKeyFile(p)).toThrow(/chmod 600/);
    chmodSync(p, 0o600);
    expect(loadKeyFile(p).length).toBe(32);
    expect(() => loadKeyFile(join(dir, "missing"))).toThrow(/ENOENT/);
  });
});

describe("frame encryption", () => {
  const key = parseKey(generateKey());
  const t = transcript(Buffer.from("hello"), Buffer.from("challenge"));
  const k = sessionKeys(key, t, randomBytes(32));

  test("proofs bind the role and the transcript", () => {
    const p = proof(key, "worker", t);
    expect(proofMatches(key, "worker", t, p)).toBe(true);
    expect(proofMatches(key, "master", t, p)).toBe(false);
    expect(proofMatches(key, "worker", transcript(Buffer.from("hello"), Buffer.from("other")), p)).toBe(false);
    expect(proofMatches(parseKey(generateKey()), "worker", t, p)).toBe(false);
    expect(k.m2w.equals(k.w2m)).toBe(false);
  });

  test("frames open in order; replayed, reordered, altered or re-headed frames fail", () => {
    const s = new Sealer(k.w2m, "w2m");
    const h = (n: number) => encodeHeader(n, 100 + 16, "info", false);
    const f = [0, 1, 2].map((i) => ({ h: h(i), c: s.seal(h(i), Buffer.alloc(100, i)) }));
    const o = new Opener(k.w2m, "w2m");
    expect(o.open(f[0]!.h, f[0]!.c)[0]).toBe(0);
    expect(() => o.open(f[0]!.h, f[0]!.c)).toThrow(AuthError); // replay
    const o2 = new Opener(k.w2m, "w2m");
    expect(() => o2.open(f[1]!.h, f[1]!.c)).toThrow(AuthError); // reordered
    const o3 = new Opener(k.w2m, "w2m");
    const bad = Buffer.from(f[0]!.c);
    bad[5] ^= 1;
    expect(() => o3.open(f[0]!.h, bad)).toThrow(AuthError); // altered payload
    expect(() => new Opener(k.w2m, "w2m").open(encodeHeader(0, 116, "status", false), f[0]!.c)).toThrow(AuthError); // altered header
    expect(() => new Opener(k.w2m, "m2w").open(f[0]!.h, f[0]!.c)).toThrow(AuthError); // reflected back
  });
});

async function pair(): Promise<{ a: Session; b: Session; close(): void }> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => srv.once("connection", r));
  const c = createConnection({ host: "127.0.0.1", port });
  await new Promise((r) => c.once("connect", r));
  const s = await accepted;
  const a = new Session(c, DEFAULT_LIMITS, silentLogger);
  const b = new Session(s, DEFAULT_LIMITS, silentLogger);
  return { a, b, close: () => (a.close("x"), b.close("x"), srv.close()) };
}

const settings = { exclude: [], keepalive_s: 10, interval_s: 10, mismatch_limit: 3 };

describe("handshake over a socket", () => {
  test("same key: both sides get in and exchange encrypted requests, divided when large", async () => {
    const key = parseKey(generateKey());
    const p = await pair();
    const srv = serverHandshake(p.b, { key, name: "m", cluster: "c", settings, timeoutMs: 5000, admit: () => null });
    const cli = await clientHandshake(p.a, { key, name: "w1", cluster: "c", role: "worker", timeoutMs: 5000 });
    expect((await srv).name).toBe("w1");
    expect(cli.master.name).toBe("m");
    p.b.onMessage = (m) => p.b.reply(m.counter, Buffer.concat([Buffer.from("echo:"), m.payload]));
    const big = Buffer.alloc(3 * DEFAULT_LIMITS.chunk + 5, 9);
    const got = await p.a.request("info", big);
    expect(got.length).toBe(big.length + 5);
    p.close();
  });

  test("wrong key: the master refuses with `wrong cluster key`, the worker is told", async () => {
    const p = await pair();
    const srv = serverHandshake(p.b, { key: parseKey(generateKey()), name: "m", cluster: "c", settings, timeoutMs: 5000, admit: () => null });
    const cli = clientHandshake(p.a, { key: parseKey(generateKey()), name: "w1", cluster: "c", role: "worker", timeoutMs: 5000 });
    await expect(srv).rejects.toMatchObject({ code: "key", message: "wrong cluster key" });
    await expect(cli).rejects.toBeInstanceOf(HandshakeRefused);
    await expect(cli).rejects.toMatchObject({ code: "key" });
    p.close();
  });

  test("another cluster, another version, a bad name, the master's own name or a duplicate is refused", async () => {
    const key = parseKey(generateKey());
    for (const [name, cluster, admit, code, version] of [
      ["w1", "other", null, "cluster", undefined],
      ["bad name!", "c", null, "protocol", undefined],
      ["w1", "c", { error: "node name `w1` is already connected", code: "duplicate" }, "duplicate", undefined],
      ["m", "c", null, "duplicate", undefined],
      ["w1", "c", null, "version", "0.0.1-other"],
    ] as const) {
      const p = await pair();
      const srv = serverHandshake(p.b, { key, name: "m", cluster: "c", settings, timeoutMs: 5000, admit: () => admit });
      const cli = clientHandshake(p.a, { key, name, cluster, role: "worker", timeoutMs: 5000, version }).catch((e) => e);
      await expect(srv).rejects.toMatchObject({ code });
      expect(await cli).toBeInstanceOf(HandshakeRefused);
      p.close();
    }
  });
});

describe("forward secrecy", () => {
  test("X25519: both sides get one secret; a malformed or low-order key is refused", () => {
    const a = new Ephemeral();
    const b = new Ephemeral();
    expect(a.shared(b.pub).equals(b.shared(a.pub))).toBe(true);
    expect(a.shared(b.pub).equals(a.shared(new Ephemeral().pub))).toBe(false);
    expect(() => a.shared(Buffer.alloc(32))).toThrow(/low order/);
    expect(() => a.shared(Buffer.alloc(31, 1))).toThrow(/31 bytes/);
  });

  test("a recorded session cannot be decrypted with the cluster key alone", async () => {
    const key = parseKey(generateKey());
    const p = await pair();
    // The wire, both directions, as a passive observer records it.
    const w2m: Buffer[] = [];
    const m2w: Buffer[] = [];
    p.b.sock.on("data", (c: Buffer) => w2m.push(Buffer.from(c)));
    p.a.sock.on("data", (c: Buffer) => m2w.push(Buffer.from(c)));
    const srv = serverHandshake(p.b, { key, name: "m", cluster: "c", settings, timeoutMs: 5000, admit: () => null });
    const eph = new Ephemeral();
    await clientHandshake(p.a, { key, name: "w1", cluster: "c", role: "worker", timeoutMs: 5000, ephemeral: eph });
    await srv;
    const secret = Buffer.from("the scan results nobody else may read");
    p.b.onMessage = (m) => p.b.reply(m.counter, Buffer.from("ok"));
    expect((await p.a.request("info", secret)).toString()).toBe("ok");
    p.close();

    const frames = (chunks: Buffer[]): Frame[] => new FrameReader(1 << 20).push(Buffer.concat(chunks));
    const up = frames(w2m);
    const down = frames(m2w);
    expect(up.map((f) => f.cmd).slice(0, 2)).toEqual(["hello", "auth"]);
    expect(down[0]!.cmd).toBe("challenge");
    const sealed = up[2]!;
    expect(Buffer.concat(w2m).includes(secret)).toBe(false);
    // Everything the observer has, plus the cluster key: the transcript and every key it can derive.
    const t = transcript(up[0]!.payload, down[0]!.payload);
    const attempts = [
      sessionKeys(key, t, Buffer.alloc(32)).w2m,
      Buffer.from(hkdfSync("sha256", key, t, "falc-sync/1 w2m", 32)), // protocol 1's keys: key and transcript only
      Buffer.from(hkdfSync("sha256", key, t, "falc-sync/2 w2m", 32)),
    ];
    for (const k of attempts) expect(() => new Opener(k, "w2m").open(sealed.header, sealed.payload)).toThrow(AuthError);
    // With the ephemeral secret (which only the two ends ever held) it opens: the frame is the request.
    const challenge = JSON.parse(down[0]!.payload.toString());
    const shared = eph.shared(Buffer.from(challenge.eph, "base64"));
    const plain = new Opener(sessionKeys(key, t, shared).w2m, "w2m").open(sealed.header, sealed.payload);
    expect(plain.includes(secret)).toBe(true);
  });
});
