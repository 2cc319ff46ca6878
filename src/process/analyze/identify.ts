/**
 * Identification, Cuckoo3 style: type and hashes of the submitted file in one read; an archive (anything
 * libarchive reads: zip, 7z, rar, tar and compressed streams, cab, iso, cpio, ar/deb, ...) is unpacked with
 * passwords and guards (libarchive.ts) and the target chosen inside it: executables first, then installers
 * and documents, then libraries and scripts. Everything not chosen is listed as ignored with the reason.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { FormatError, bufferSource, fileSource } from "./bytes.ts";
import { type FileType, type Platform, detectType, identFilename } from "./filetype.ts";
import { hashFileParallel } from "./hash-thread.ts";
import { type Hashes, hashBytes } from "./hashes.ts";
import { isContainer, unpackContainer } from "./containers.ts";
import { type ArchiveInput, DEFAULT_UNPACK_LIMITS, type UnpackBudget, type UnpackLimits } from "./libarchive.ts";

export interface IdentifyOptions {
  /** Tried in order on encrypted entries. */
  passwords: string[];
  limits?: UnpackLimits;
  /** Archives inside archives are opened this deep. */
  maxDepth?: number;
  /** Where entries are written (the run's scratch directory). */
  workDir: string;
  signal?: AbortSignal;
  /** md5 and sha512 on threads of their own (off unless asked: it costs CPU where cores are busy). */
  threads?: boolean;
  /**
   * The submitted file's size and hashes when already known (computed from the stored bytes as they
   * were stored): then the file is not hashed again.
   */
  known?: Hashes & { size: number };
  /** The submitted file's bytes when this process holds them (then it is not read at all). */
  bytes?: Uint8Array;
}

export interface IdentifiedTarget {
  filename: string;
  orig_filename: string;
  size: number;
  filetype: string;
  media_type: string;
  /** Entry names from the submitted file down to the target (empty when it is the submitted file). */
  extrpath: string[];
  container: boolean;
  password: string;
  md5: string;
  sha1: string;
  sha256: string;
  sha512: string;
  platforms: Platform[];
}

export interface IgnoredFile {
  filename: string;
  filetype?: string;
  reason: string;
}

export interface IdentifyResult {
  identified: boolean;
  selected: boolean;
  category: "file";
  target: IdentifiedTarget;
  ignored: IgnoredFile[];
  /** Every file found inside a container, in archive order (absent for plain files). */
  files?: { filename: string; extrpath: string[]; filetype: string; size: number; sha256: string; selected: boolean }[];
  /** Non-fatal problems (damaged archive parts) for the error tracker. */
  errors: string[];
}

interface Found {
  name: string;
  extrpath: string[];
  type: FileType;
  hashes: Hashes;
  size: number;
  password: string;
  /** Written here, for the caller's later use (the run's workDir). */
  path: string;
}

/** Lower is preferred; undefined is never selected. Cuckoo3 prefers .exe, .msi, .docm, .docx, .pdf. */
export function selectionRank(t: FileType): number | undefined {
  switch (t.kind) {
    case "pe": return t.pe?.dll ? 6 : 0;
    case "ole": return t.office?.app === "msi" ? 1 : t.office?.app === "word" || t.office?.app === "excel" || t.office?.app === "powerpoint" ? (t.office.macros ? 2 : 3) : undefined;
    case "ooxml": return t.office?.macros || /m$/.test(t.extension) ? 2 : 3;
    case "rtf": return 4;
    case "pdf": return 5;
    case "script": return t.script === "sh" || t.script === "python" || t.script === "node" || t.script === "perl" ? 11 : 7;
    case "lnk": return 8;
    case "elf": return t.elf?.type === "shared object" || t.elf?.type === "relocatable" ? 10 : 9;
    case "macho": return 12;
    default: return undefined;
  }
}

function describe(t: FileType): string {
  return t.kind === "zip" ? "archive" : t.kind;
}


/** The name a lone compressed stream's content gets: the archive's name without .gz, .xz, ... */
function rawName(name: string): string {
  const m = /^(.*)\.(?:gz|z|bz2|xz|zst|lz4|lzma|lz|tgz|tbz2?|txz)$/i.exec(name);
  if (!m) return `${name}.out`;
  return /\.t(?:gz|bz2?|xz)$/i.test(name) ? `${m[1]}.tar` : m[1]!;
}

/**
 * Reads a file once, streaming it through reused buffers for the hashes (md5 and sha512 on their own
 * threads); the type comes from a few positioned reads. Holding whole files in fresh memory costs more
 * (page faults) than the hashing of them.
 */
export async function readAndIdentify(path: string, filename: string, signal?: AbortSignal, threads = false, known?: Hashes & { size: number }, bytes?: Uint8Array): Promise<{ type: FileType; hashes: Hashes; size: number }> {
  if (bytes && known) return { type: detectType(bufferSource(bytes), filename, path), hashes: pickHashes(known), size: bytes.length };
  if (bytes) return { type: detectType(bufferSource(bytes), filename, path), hashes: hashBytes(bytes), size: bytes.length };
  if (known) {
    const src = fileSource(path);
    try {
      return { type: detectType(src, filename, path), hashes: pickHashes(known), size: src.size };
    } finally {
      src.close();
    }
  }
  const r = await hashFileParallel(path, { signal, threads });
  const hashes: Hashes = { md5: r.md5, sha1: r.sha1, sha256: r.sha256, sha512: r.sha512 };
  const src = fileSource(path);
  try {
    return { type: detectType(src, filename, path), hashes, size: r.size };
  } finally {
    src.close();
  }
}

function pickHashes(h: Hashes): Hashes {
  return { md5: h.md5, sha1: h.sha1, sha256: h.sha256, sha512: h.sha512 };
}

function safeName(name: string): string {
  const b = basename(name.replace(/\\/g, "/")).replace(/[\x00-\x1f]/g, "_");
  return b && b !== "." && b !== ".." ? b.slice(0, 200) : "unnamed";
}

export async function identify(path: string, filename: string, opts: IdentifyOptions): Promise<IdentifyResult> {
  const top = await readAndIdentify(path, filename, opts.signal, opts.threads === true, opts.known, opts.bytes);
  const errors: string[] = [];
  const targetOf = (f: { name: string; type: FileType; hashes: Hashes; size: number; extrpath: string[]; password: string }, container: boolean): IdentifiedTarget => ({
    filename: identFilename(f.name, f.type),
    orig_filename: f.name,
    size: f.size,
    filetype: f.type.filetype,
    media_type: f.type.media_type,
    extrpath: f.extrpath,
    container,
    password: f.password,
    ...f.hashes,
    platforms: f.type.platforms,
  });
  const submitted = { name: filename, type: top.type, hashes: top.hashes, size: top.size, extrpath: [], password: "" };

  if (!isContainer(top.type)) {
    const rank = selectionRank(top.type);
    return {
      identified: rank !== undefined,
      selected: rank !== undefined,
      category: "file",
      target: targetOf(submitted, false),
      ignored: rank === undefined ? [{ filename, filetype: top.type.filetype, reason: `unsupported file type: ${describe(top.type)}` }] : [],
      errors,
    };
  }

  const found: Found[] = [];
  const ignored: IgnoredFile[] = [];
  const limits = opts.limits ?? DEFAULT_UNPACK_LIMITS;
  const budget: UnpackBudget = { used: 0 };
  const maxDepth = opts.maxDepth ?? 3;
  let counter = 0;
  const unpack = async (input: ArchiveInput, archiveName: string, archiveType: FileType, prefix: string[], depth: number): Promise<void> => {
    let u;
    try {
      u = await unpackContainer(input, archiveType, { passwords: opts.passwords, limits, budget, signal: opts.signal, rawName: rawName(safeName(archiveName)) });
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      errors.push(`${prefix.join("/") || filename}: ${e.message}`);
      ignored.push({ filename: prefix[prefix.length - 1] ?? filename, filetype: archiveType.filetype, reason: e.message });
      return;
    }
    if (u.error) errors.push(`${prefix.join("/") || filename}: ${u.error}`);
    for (const entry of u.entries) {
      opts.signal?.throwIfAborted();
      if (entry.type === "dir") continue;
      if (!entry.data) {
        const reason = entry.error?.startsWith(`${entry.name}: `) ? entry.error.slice(entry.name.length + 2) : entry.error;
        ignored.push({ filename: [...prefix, entry.name].join("/"), reason: reason ?? `${entry.type}: not extracted` });
        continue;
      }
      const data = entry.data;
      // The entry's name is never a path here: only its last part, cleaned, names the file written.
      const name = safeName(entry.name);
      const extrpath = [...prefix, entry.name];
      const dirOut = join(opts.workDir, "unpacked", String(counter++));
      mkdirSync(dirOut, { recursive: true });
      const out = join(dirOut, name);
      writeFileSync(out, data);
      const type = detectType(bufferSource(data), name, out);
      if (isContainer(type)) {
        if (depth + 1 < maxDepth) {
          await unpack({ bytes: data }, name, type, extrpath, depth + 1);
          continue;
        }
        ignored.push({ filename: extrpath.join("/"), filetype: type.filetype, reason: `archive nested deeper than ${maxDepth} levels` });
        continue;
      }
      found.push({ name, extrpath, type, hashes: hashBytes(data), size: data.length, password: entry.password ?? "", path: out });
    }
  };
  await unpack(opts.bytes ? { bytes: opts.bytes } : { path }, filename, top.type, [], 0);

  let best: Found | undefined;
  let bestRank = Infinity;
  for (const f of found) {
    const r = selectionRank(f.type);
    if (r !== undefined && r < bestRank) {
      best = f;
      bestRank = r;
    }
  }
  for (const f of found) {
    if (f === best) continue;
    const r = selectionRank(f.type);
    ignored.push({
      filename: f.extrpath.join("/"),
      filetype: f.type.filetype,
      reason: r === undefined ? `unsupported file type: ${describe(f.type)}` : `not selected: ${best!.extrpath.join("/")} (${describe(best!.type)}) is preferred over ${describe(f.type)}`,
    });
  }
  const files = found.map((f) => ({ filename: f.name, extrpath: f.extrpath, filetype: f.type.filetype, size: f.size, sha256: f.hashes.sha256, selected: f === best }));
  if (!best) {
    return { identified: false, selected: false, category: "file", target: targetOf(submitted, true), ignored, files, errors };
  }
  return { identified: true, selected: true, category: "file", target: targetOf(best, false), ignored, files, errors };
}
