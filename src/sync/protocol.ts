import { constants, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { z } from "zod";

/**
 * Message bodies. Everything a peer sends is parsed here against a schema before any code looks
 * at it; a body that does not fit is refused with the first problem named.
 */
export const PROTOCOL = 1;
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
  .object({ proto: z.number().int(), role: z.enum(["worker", "client"]), name: nodeName, cluster: clusterName, version: z.string().max(40), nonce: b64 })
  .strict();
export type Hello = z.infer<typeof helloSchema>;

export const challengeSchema = z.object({ proto: z.number().int(), name: nodeName, cluster: clusterName, version: z.string().max(40), nonce: b64 }).strict();
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
const kind = z.enum(["f", "d", "l"]);
export const wireStatus = z.tuple([
  z.string().min(1).max(4096),
  kind,
  z.number().int().min(0).max(2 ** 50),
  z.number().int().min(0).max(0o7777),
  z.number().min(0),
  z.string().regex(/^([0-9a-f]{64})?$/),
]);
export type WireStatus = z.infer<typeof wireStatus>;

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
    files: z.array(wireStatus).max(2_000_000).optional(),
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
    files: z.array(wireStatus).max(2_000_000),
    /** Directories to create or chmod. */
    dirs: z.array(wireStatus).max(2_000_000),
    /** Worker entries to delete (extra, or in the way of a different kind). */
    remove: z.array(wireStatus).max(2_000_000),
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
  })
  .strict();
export type SyncResult = z.infer<typeof syncResultSchema>;
