/**
 * The bytes of the analysis target for pre-stage plugins. For a file picked out of a zip, identification
 * recorded its extrpath (and the password that opened it); the scratch copy is gone by now, so it is
 * extracted again from the stored binary (containers.ts: libarchive, or the mail parsers). Plugins of one run share the bytes (keyed by the target object),
 * so static, strings and yara read the file once.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import type { FileTarget, ProcessingContext } from "../plugin.ts";
import { FormatError } from "./bytes.ts";
import { extractChild } from "./containers.ts";

/** Largest target loaded into memory for static analysis. */
export const MAX_TARGET_SIZE = 512 * 1024 * 1024;

const cache = new WeakMap<object, { key: string; bytes: Uint8Array }>();

interface TargetInfo {
  extrpath?: unknown;
  password?: unknown;
}

/** identification.json's target, whether the framework lifted it to the top or kept it under "identify". */
export function identifiedTarget(ctx: Pick<ProcessingContext, "identification">): TargetInfo | undefined {
  const id = ctx.identification as Record<string, unknown> | undefined;
  const t = (id?.target ?? (id?.identify as Record<string, unknown> | undefined)?.target) as TargetInfo | undefined;
  return t && typeof t === "object" ? t : undefined;
}

/** Files up to this size are read into one reused buffer (see poolBuffer). */
export const POOL_MAX = 256 * 1024 * 1024;
let pool: { buf: Uint8Array; owner: string } | undefined;

/**
 * The bytes of a file this process has just stored (storage.ts storeBinary): the stages that follow
 * in the same process (identification, pre) use them instead of reading the file again. Keyed by
 * every path the copy is known under (its temp until the commit renames it, then its final name):
 * the content is the same. Dropped whenever the pool buffer they live in is handed out again.
 */
let held: { paths: Set<string>; bytes: Uint8Array } | undefined;

export function holdBytes(paths: string[], bytes: Uint8Array): void {
  held = { paths: new Set(paths), bytes };
}

export function heldBytes(path: string): Uint8Array | undefined {
  return held && held.paths.has(path) ? held.bytes : undefined;
}

/**
 * A buffer of `size` bytes to read a file into. Fresh memory costs about a millisecond per MB in page
 * faults, more than reading it, so one buffer is reused from run to run: the run that used it last is
 * over once the framework has removed its scratch directory (`owner`), or when it is the same
 * run's. While that directory exists (runs at the same time), a fresh buffer is used. Analysis
 * results never keep views into it (parsers return strings and numbers).
 */
export function poolBuffer(size: number, owner: string): Uint8Array {
  if (size > POOL_MAX || (pool && pool.owner !== owner && existsSync(pool.owner))) return new Uint8Array(size);
  // Shared memory, so the strings scan can hand half of it to a worker thread without a copy.
  if (!pool || pool.buf.length < size) pool = { buf: new Uint8Array(new SharedArrayBuffer(Math.max(size, Math.min(POOL_MAX, (pool?.buf.length ?? 0) * 2)))), owner };
  pool.owner = owner;
  held = undefined;
  return pool.buf.subarray(0, size);
}

/** Read all of an open file (from offset 0) into buf; returns the part filled. */
export function readFully(fd: number, buf: Uint8Array): Uint8Array {
  let n = 0;
  while (n < buf.length) {
    const r = readSync(fd, buf, n, buf.length - n, n);
    if (r <= 0) break;
    n += r;
  }
  return buf.subarray(0, n);
}

function readInto(path: string, size: number, workDir: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    return readFully(fd, poolBuffer(size, workDir));
  } finally {
    closeSync(fd);
  }
}

export function passwordsFrom(config: Record<string, unknown>, extra: unknown[] = []): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && v && !out.includes(v)) out.push(v);
  };
  extra.forEach(add);
  add(config.password);
  if (Array.isArray(config.passwords)) config.passwords.forEach(add);
  add("infected");
  return out;
}

export async function loadTarget(ctx: ProcessingContext, maxSize = MAX_TARGET_SIZE): Promise<Uint8Array> {
  if (ctx.target.category !== "file") throw new FormatError("the target is a URL, not a file");
  const target = ctx.target as FileTarget;
  const info = identifiedTarget(ctx);
  const extrpath = Array.isArray(info?.extrpath) ? info.extrpath.filter((x): x is string => typeof x === "string") : [];
  const key = `${target.path}\0${extrpath.join("\0")}`;
  const hit = cache.get(ctx.target);
  if (hit && hit.key === key) return hit.bytes;
  let bytes = heldBytes(target.path);
  const size = bytes ? bytes.length : statSync(target.path).size;
  if (size > maxSize) throw new FormatError(`the target is ${size} bytes, over the static analysis limit of ${maxSize}`);
  bytes ??= readInto(target.path, size, ctx.workDir);
  const passwords = passwordsFrom(ctx.config, [info?.password]);
  for (const name of extrpath) {
    bytes = await extractChild(bytes, name, passwords);
  }
  cache.set(ctx.target, { key, bytes });
  return bytes;
}
