import { constants, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { z } from "zod";

/**
 * Message bodies. Everything a peer sends is parsed here against a schema before any code looks
 * at it; a body that does not fit is refused with the first problem named.
 */
/** 2: ephemeral X25519 keys in hello and challenge (forward secrecy). */
export const PROTOCOL = 2;
export const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const CLUSTER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const ZSTD = 0x01;
const COMPRESS_ABOVE = 32 * 1024;

export class ProtocolError extends Error {}

/** JSON bytes, zstd-compressed (marked by a leading 0x01) when large. */
export function encodeJson(value: unknown): Buffer {
  const raw = Buffer.from(JSON.stringify(value));
  if (raw.length < COMPRESS_ABOVE) return raw;
  const z = zstdCompressSync(raw, { params: { [constants.ZSTD_c_compressionLevel]: 3 } });
  return Buffer.concat([Buffer.from([ZSTD]), z]);
}

export function decodeJson<T>(schema: z.ZodType<T>, body: Buffer, what: string, maxBytes = 512 << 20): T {
  let raw: unknown;
  try {
    const text = body[0] === ZSTD ? zstdDecompressSync(body.subarray(1), { maxOutputLength: maxBytes }) : body;
    raw = JSON.parse(text.toString("utf8"));
  } catch {
    throw new ProtocolError(`${what}: not a valid message body`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ProtocolError(`${what}: ${i.path.join(".") || "(body)"}: ${i.message}`);
  }
  return r.data;
}

const b64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).max(200);
const nodeName = z.string().regex(NODE_NAME_RE, "node names are letters, digits, _ . - (up to 64)");
const clusterName = z.string().regex(CLUSTER_NAME_RE, "cluster names are letters, digits, _ . - (up to 64)");

export const helloSchema = z
  .object({ proto: z.number().int(), role: z.enum(["worker", "client"]), name: nodeName, cluster: clusterName, version: z.string().max(40), nonce: b64, eph: b64 })
  .strict();
export type Hello = z.infer<typeof helloSchema>;

export const challengeSchema = z.object({ proto: z.number().int(), name: nodeName, cluster: clusterName, version: z.string().max(40), nonce: b64, eph: b64 }).strict();
export type Challenge = z.infer<typeof challengeSchema>;

export const authSchema = z.object({ proof: b64 }).strict();

export const settingsSchema = z
  .object({
    exclude: z.array(z.string().min(1).max(300)).max(1000),
    keepalive_s: z.number().positive().max(3600),
    interval_s: z.number().positive().max(86400),
    mismatch_limit: z.number().int().min(1).max(1000),
  })
  .strict();
export type Settings = z.infer<typeof settingsSchema>;

export const welcomeSchema = z.object({ proof: b64, settings: settingsSchema }).strict();

export const errSchema = z.object({ error: z.string().max(500), code: z.string().max(40) });

/** One file or directory: [path, kind, size, mode, mtime ms, blake2b-256 hex ("" for dirs and links)]. */
export type WireStatus = [path: string, kind: "f" | "d" | "l", size: number, mode: number, mtime: number, hash: string];

const HASH_OR_EMPTY = /^([0-9a-f]{64})?$/;

/** What is wrong with one status entry, or null. */
export function wireStatusProblem(w: unknown): string | null {
  if (!Array.isArray(w) || w.length !== 6) return "expected [path, kind, size, mode, mtime, hash]";
  const [path, kind, size, mode, mtime, hash] = w as unknown[];
  if (typeof path !== "string" || path.length < 1 || path.length > 4096) return "path: a string of 1 to 4096 characters";
  if (kind !== "f" && kind !== "d" && kind !== "l") return "kind: f, d or l";
  if (!Number.isInteger(size) || (size as number) < 0 || (size as number) > 2 ** 50) return "size: a whole number from 0";
  if (!Number.isInteger(mode) || (mode as number) < 0 || (mode as number) > 0o7777) return "mode: a whole number from 0 to 0o7777";
  if (typeof mtime !== "number" || !(mtime >= 0)) return "mtime: a number from 0";
  if (typeof hash !== "string" || !HASH_OR_EMPTY.test(hash)) return "hash: 64 hex digits, or empty";
  return null;
}

/**
 * A list of status entries, checked in one loop: a plan lists every file of a first sync, and a
 * z.tuple per entry costs about 5 µs (50 ms for 10,000, before the first byte can be written).
 */
const wireStatusList = z.custom<WireStatus[]>().superRefine((v, ctx) => {
  if (!Array.isArray(v)) return void ctx.addIssue({ code: "custom", message: "expected a list of status entries" });
  if (v.length > 2_000_000) return void ctx.addIssue({ code: "custom", message: "more than 2,000,000 entries" });
  for (let i = 0; i < v.length; i++) {
    const why = wireStatusProblem(v[i]);
    if (why) return void ctx.addIssue({ code: "custom", path: [i], message: why });
  }
});

/**
 * An integrity check narrows down in up to three steps: the digest of the worker's whole status;
 * if it differs, one digest per directory; then the entries of only the directories that differ
 * (`scope`), which the master compares against its own entries in the same directories.
 */
const dirPath = z.string().max(4096);
export const integritySchema = z
  .object({
    digest: z.string().regex(/^[0-9a-f]{64}$/),
    count: z.number().int().min(0),
    dirs: z.array(z.tuple([dirPath, z.string().regex(/^[0-9a-f]{64}$/)])).max(2_000_000).optional(),
    scope: z.array(dirPath).max(2_000_000).optional(),
    files: wireStatusList.optional(),
  })
  .strict();
export type IntegrityRequest = z.infer<typeof integritySchema>;

export const integrityReplySchema = z
  .object({
    transfer: z.number().int().nullable(),
    /** The digests differ: send directory digests ("dirs"), or the entries of `dirs` ("files"). */
    need: z.enum(["dirs", "files"]).optional(),
    dirs: z.array(dirPath).max(2_000_000).optional(),
    missing: z.number().int(),
    shared: z.number().int(),
    extra: z.number().int(),
    bytes: z.number().int(),
  })
  .strict();
export type IntegrityReply = z.infer<typeof integrityReplySchema>;

export const planSchema = z
  .object({
    id: z.number().int(),
    /** Files to write, in the order their bytes come in the data stream. */
    files: wireStatusList,
    /** Directories to create or chmod. */
    dirs: wireStatusList,
    /** Worker entries to delete (extra, or in the way of a different kind). */
    remove: wireStatusList,
    missing: z.number().int(),
    shared: z.number().int(),
    extra: z.number().int(),
  })
  .strict();
export type Plan = z.infer<typeof planSchema>;

export const syncEndSchema = z.object({ id: z.number().int(), bytes: z.number().int(), chunks: z.number().int() }).strict();
export const syncAbortSchema = z.object({ id: z.number().int(), reason: z.string().max(500) }).strict();

export const syncResultSchema = z
  .object({
    id: z.number().int(),
    ok: z.boolean(),
    error: z.string().max(500).optional(),
    missing: z.number().int(),
    shared: z.number().int(),
    extra: z.number().int(),
    files: z.number().int(),
    bytes: z.number().int(),
    duration_ms: z.number(),
    /** Entries of the worker's own tree it leaves alone (first ones by name, and how many). */
    refused: z.array(z.object({ path: z.string().max(4200), why: z.string().max(200) })).max(50).optional(),
    refused_count: z.number().int().min(0).optional(),
  })
  .strict();
export type SyncResult = z.infer<typeof syncResultSchema>;
