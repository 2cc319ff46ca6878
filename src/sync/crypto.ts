import { createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { configError } from "../core/errors.ts";

/**
 * Cluster crypto. Wazuh encrypts frames with Fernet under the shared key and nothing else; here the
 * shared key only proves membership (challenge/response) and, with an ephemeral X25519 exchange,
 * seeds per-session keys. Every frame
 * after the hello is AES-256-GCM with a nonce made of the direction and an implicit per-direction
 * sequence number, so a replayed, reordered, dropped or altered frame fails authentication.
 */
export const KEY_BYTES = 32;
export const TAG_BYTES = 16;
export const NONCE_BYTES = 32;

export type Direction = "m2w" | "w2m";
const DIR_TAG: Record<Direction, number> = { m2w: 0x6d32770a, w2m: 0x77326d0a };

/** Parse a cluster key: 64 hex characters or base64 of 32 bytes; short or patterned keys are refused. */
export function parseKey(text: string, where = "key"): Buffer {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0) key = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) key = Buffer.from(t, "base64");
  if (!key || key.length === 0) throw configError(`${where}: not a cluster key (expected 64 hex characters; make one with \`falc sync keygen\`)`);
  if (key.length < KEY_BYTES)
    throw configError(`${where}: cluster key is ${key.length} bytes, at least ${KEY_BYTES} are needed (make one with \`falc sync keygen\`)`);
  // 32 random bytes have ~30 distinct values; a key with few is typed or patterned, not random.
  if (new Set(key).size < 12) throw configError(`${where}: cluster key looks weak (repeated bytes); make a random one with \`falc sync keygen\``);
  return key;
}

/** Read a key file, refusing one that other users can read or write. */
export function loadKeyFile(path: string): Buffer {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw configError(`${path}: cannot read key file (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (!st.isFile()) throw configError(`${path}: key file is not a regular file`);
  if (st.mode & 0o077)
    throw configError(`${path}: key file is accessible by other users (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``);
  return parseKey(readFileSync(path, "utf8"), path);
}

export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString("hex");
}

function authKey(key: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "falc-sync/1 auth", 32));
}

/** The handshake transcript: hello and challenge payloads exactly as sent, so names and versions are bound too. */
export function transcript(hello: Buffer, challenge: Buffer): Buffer {
  return createHash("sha256").update(hello).update(challenge).digest();
}

export function proof(key: Buffer, role: "worker" | "master", t: Buffer): Buffer {
  return createHmac("sha256", authKey(key)).update(role).update(t).digest();
}

export function proofMatches(key: Buffer, role: "worker" | "master", t: Buffer, got: Buffer): boolean {
  const want = proof(key, role, t);
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface SessionKeys {
  m2w: Buffer;
  w2m: Buffer;
}

/**
 * Session keys from both secrets: the X25519 secret of this session's ephemeral keys (forward
 * secrecy: once the two private keys are gone, a recording of the session cannot be opened, even
 * by someone who later gets the cluster key) and the cluster key (the ephemeral keys travel in
 * the hello and challenge, which both proofs cover, so no one without the key can stand in the middle).
 */
export function sessionKeys(key: Buffer, t: Buffer, shared: Buffer): SessionKeys {
  const ikm = Buffer.concat([shared, key]);
  const k = (d: Direction) => Buffer.from(hkdfSync("sha256", ikm, t, `falc-sync/2 ${d}`, KEY_BYTES));
  return { m2w: k("m2w"), w2m: k("w2m") };
}

export const EPH_BYTES = 32;
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

/** One side's X25519 key pair for one handshake; the private key lives only in this object. */
export class Ephemeral {
  private priv: KeyObject;
  readonly pub: Buffer;
  constructor() {
    const kp = generateKeyPairSync("x25519");
    this.priv = kp.privateKey;
    this.pub = Buffer.from(kp.publicKey.export({ format: "der", type: "spki" }).subarray(X25519_SPKI_PREFIX.length));
  }

  /** The shared secret with the peer's public key; throws for a malformed or low-order key. */
  shared(peer: Buffer): Buffer {
    if (peer.length !== EPH_BYTES) throw new Error(`ephemeral key of ${peer.length} bytes, not ${EPH_BYTES}`);
    const pub = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peer]), format: "der", type: "spki" });
    try {
      return diffieHellman({ privateKey: this.priv, publicKey: pub });
    } catch {
      throw new Error("ephemeral key refused (low order)");
    }
  }
}

function nonce(dir: Direction, seq: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(DIR_TAG[dir], 0);
  n.writeBigUInt64BE(seq, 4);
  return n;
}

/** Seals the frames of one direction; the sequence number is implicit on both ends. */
export class Sealer {
  private seq = 0n;
  constructor(
    private key: Buffer,
    private dir: Direction,
  ) {}

  seal(header: Buffer, plain: Buffer): Buffer {
    return Buffer.concat(this.sealParts(header, [plain]));
  }

  /** Ciphertext pieces then the tag, without joining them (the socket writes them one after another). */
  sealParts(header: Buffer, parts: Buffer[]): Buffer[] {
    const c = createCipheriv("aes-256-gcm", this.key, nonce(this.dir, this.seq++));
    c.setAAD(header);
    const out: Buffer[] = [];
    for (const p of parts) if (p.length) out.push(c.update(p));
    const f = c.final();
    if (f.length) out.push(f);
    out.push(c.getAuthTag());
    return out;
  }
}

export class AuthError extends Error {}

export class Opener {
  private seq = 0n;
  constructor(
    private key: Buffer,
    private dir: Direction,
  ) {}

  /** Throws AuthError for any frame that is not the next one the peer sealed, unaltered. */
  open(header: Buffer, sealed: Buffer): Buffer {
    if (sealed.length < TAG_BYTES) throw new AuthError("frame shorter than its tag");
    const d = createDecipheriv("aes-256-gcm", this.key, nonce(this.dir, this.seq));
    d.setAAD(header);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const a = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    try {
      const b = d.final();
      this.seq++;
      return b.length ? Buffer.concat([a, b]) : a;
    } catch {
      throw new AuthError("frame failed authentication (replayed, reordered or altered)");
    }
  }
}
