/**
 * Unpacking through libarchive (Debian's libarchive13) over bun:ffi: every format it reads (tar in all its
 * dialects, gzip/bzip2/xz/zstd/lz4/lzma filters, zip with traditional and AES encryption, 7z, rar, cab,
 * iso9660, cpio, ar/deb, xar, lha, ...). A compressed stream that is not an archive (a lone .gz) is read as
 * one entry. falc's guards sit on top: entry count, entry size, total size over a whole unpacking (the
 * budget) and the ratio of bytes produced to bytes read, checked while decompressing so a bomb stops
 * early; links are listed, never followed; entry names are never used as paths (see identify.ts).
 */
import { CString, type Pointer, dlopen, read, toArrayBuffer } from "bun:ffi";
import { FormatError } from "./bytes.ts";

export const LIBARCHIVE = process.env.FALC_LIBARCHIVE || "libarchive.so.13";

const ARCHIVE_EOF = 1;
const ARCHIVE_WARN = -20;
const ARCHIVE_FATAL = -30;
const AE_IFMT = 0o170000;
const AE_IFREG = 0o100000;
const AE_IFDIR = 0o040000;
const AE_IFLNK = 0o120000;

const symbols = {
  archive_read_new: { args: [], returns: "ptr" },
  archive_read_free: { args: ["ptr"], returns: "i32" },
  archive_read_support_filter_all: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_7zip: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_ar: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_cab: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_cpio: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_empty: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_iso9660: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_lha: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_rar: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_rar5: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_tar: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_warc: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_xar: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_zip: { args: ["ptr"], returns: "i32" },
  archive_read_support_format_raw: { args: ["ptr"], returns: "i32" },
  archive_read_add_passphrase: { args: ["ptr", "ptr"], returns: "i32" },
  archive_read_open_filename: { args: ["ptr", "ptr", "u64"], returns: "i32" },
  archive_read_open_memory: { args: ["ptr", "ptr", "u64"], returns: "i32" },
  archive_read_next_header: { args: ["ptr", "ptr"], returns: "i32" },
  archive_read_data_block: { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  archive_error_string: { args: ["ptr"], returns: "ptr" },
  archive_format_name: { args: ["ptr"], returns: "ptr" },
  archive_filter_count: { args: ["ptr"], returns: "i32" },
  archive_filter_name: { args: ["ptr", "i32"], returns: "ptr" },
  archive_filter_bytes: { args: ["ptr", "i32"], returns: "i64" },
  archive_entry_pathname: { args: ["ptr"], returns: "ptr" },
  archive_entry_pathname_utf8: { args: ["ptr"], returns: "ptr" },
  archive_entry_pathname_w: { args: ["ptr"], returns: "ptr" },
  archive_entry_size: { args: ["ptr"], returns: "i64" },
  archive_entry_size_is_set: { args: ["ptr"], returns: "i32" },
  archive_entry_filetype: { args: ["ptr"], returns: "u32" },
  archive_entry_strmode: { args: ["ptr"], returns: "ptr" },
  archive_entry_nlink: { args: ["ptr"], returns: "u32" },
  archive_entry_uname: { args: ["ptr"], returns: "ptr" },
  archive_entry_gname: { args: ["ptr"], returns: "ptr" },
  archive_entry_uid: { args: ["ptr"], returns: "i64" },
  archive_entry_gid: { args: ["ptr"], returns: "i64" },
  archive_entry_mtime: { args: ["ptr"], returns: "i64" },
  archive_entry_symlink: { args: ["ptr"], returns: "ptr" },
  archive_entry_hardlink: { args: ["ptr"], returns: "ptr" },
  archive_entry_is_encrypted: { args: ["ptr"], returns: "i32" },
} as const;

/**
 * Every archive format libarchive reads except mtree, which takes plain text ("alone" in a gzipped text
 * file) for a file list. raw is only tried for a compressed stream that is no archive.
 */
const FORMATS = ["7zip", "ar", "cab", "cpio", "empty", "iso9660", "lha", "rar", "rar5", "tar", "warc", "xar", "zip"] as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;

export class ArchiveUnavailable extends Error {
  override name = "ArchiveUnavailable";
}

/**
 * libarchive converts entry names to the process's locale, and a Bun process runs in the C locale, where a
 * UTF-8 or UTF-16 name cannot be converted (it comes back empty). LC_CTYPE is set to C.UTF-8 once, the
 * locale bsdtar lists in under a UTF-8 environment; falc's other text handling does not use the C locale.
 */
function utf8Locale(): void {
  const LC_CTYPE = 0; // glibc
  try {
    const libc = dlopen("libc.so.6", { setlocale: { args: ["i32", "ptr"], returns: "ptr" } }).symbols;
    if (!libc.setlocale(LC_CTYPE, Buffer.from("C.UTF-8\0"))) libc.setlocale(LC_CTYPE, Buffer.from("C.utf8\0"));
  } catch {
    // Not glibc: names that cannot be converted fall back to the wide form below.
  }
}

function la(): Lib {
  if (lib) return lib;
  try {
    utf8Locale();
    lib = dlopen(LIBARCHIVE, symbols).symbols;
    return lib;
  } catch (e) {
    throw new ArchiveUnavailable(`${LIBARCHIVE} cannot be loaded (${(e as Error).message.split("\n")[0]}); install Debian's libarchive13`);
  }
}

const cstr = (p: unknown) => (p ? new CString(p as Pointer).toString() : "");

/** A wchar_t string (UTF-32 on Linux). */
function wstr(p: unknown): string {
  if (!p) return "";
  let out = "";
  for (let o = 0; o < 4 * 4096; o += 4) {
    const c = read.u32(p as Pointer, o);
    if (!c) break;
    out += String.fromCodePoint(c);
  }
  return out;
}

export interface UnpackLimits {
  maxEntries: number;
  /** Largest entry accepted (bytes produced). */
  maxEntrySize: number;
  /** Largest total produced over one unpacking (all entries, all nesting levels: the budget). */
  maxTotalSize: number;
  /** Largest ratio of bytes produced to archive bytes read, checked once 1 MiB was produced. */
  maxRatio: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = {
  maxEntries: 10_000,
  maxEntrySize: 256 * 1024 * 1024,
  maxTotalSize: 1024 * 1024 * 1024,
  maxRatio: 250,
};

export interface UnpackBudget {
  used: number;
}

export type ArchiveInput = { path: string } | { bytes: Uint8Array };

export interface EntryInfo {
  /** The name as stored (UTF-8 when the archive says so, else as libarchive converts it). */
  name: string;
  type: "file" | "dir" | "symlink" | "hardlink" | "other";
  size: number;
  encrypted: boolean;
  /** `-rw-r--r--` as bsdtar prints it. */
  mode: string;
  nlink: number;
  uname: string;
  gname: string;
  uid: number;
  gid: number;
  mtime: number;
  /** Symlink or hardlink target. */
  link: string;
}

export interface UnpackedEntry extends EntryInfo {
  data?: Uint8Array;
  /** The password that opened it ("" when not encrypted). */
  password?: string;
  /** Why there is no data (a link, a directory, encrypted without a working password, over a limit, damaged). */
  error?: string;
}

export interface Listing {
  format: string;
  filters: string[];
  entries: EntryInfo[];
  /** Set when reading stopped early (damage, limits); the entries before it are kept. */
  error?: string;
}

class Reader {
  readonly a: Pointer;
  private readonly keep: unknown[] = [];
  private readonly entryOut = new BigUint64Array(1);
  constructor(input: ArchiveInput, passwords: string[], raw: boolean) {
    const l = la();
    const a = l.archive_read_new();
    if (!a) throw new Error("archive_read_new failed");
    this.a = a as Pointer;
    l.archive_read_support_filter_all(this.a);
    if (raw) l.archive_read_support_format_raw(this.a);
    else for (const f of FORMATS) l[`archive_read_support_format_${f}`](this.a);
    for (const p of passwords) {
      const b = Buffer.from(`${p}\0`);
      this.keep.push(b);
      l.archive_read_add_passphrase(this.a, b);
    }
    let rc: number;
    if ("path" in input) {
      const b = Buffer.from(`${input.path}\0`);
      this.keep.push(b);
      rc = l.archive_read_open_filename(this.a, b, 64 * 1024);
    } else {
      // libarchive reads from this memory until the reader is freed: it is kept referenced here.
      const bytes = input.bytes.length ? input.bytes : new Uint8Array(1);
      this.keep.push(bytes);
      rc = l.archive_read_open_memory(this.a, bytes, input.bytes.length);
    }
    if (rc < ARCHIVE_WARN) {
      const err = this.error();
      this.close();
      throw new ArchiveError(err);
    }
  }
  error(): string {
    return cstr(la().archive_error_string(this.a)) || "unreadable archive";
  }
  /** The next entry, undefined at the end; throws ArchiveError when the archive is damaged. */
  next(): { e: Pointer; info: EntryInfo } | undefined {
    const l = la();
    const rc = l.archive_read_next_header(this.a, this.entryOut);
    if (rc === ARCHIVE_EOF) return undefined;
    if (rc < ARCHIVE_WARN) throw new ArchiveError(this.error());
    const e = Number(this.entryOut[0]) as Pointer;
    const ft = l.archive_entry_filetype(e) & AE_IFMT;
    const hard = cstr(l.archive_entry_hardlink(e));
    const sym = ft === AE_IFLNK ? cstr(l.archive_entry_symlink(e)) : "";
    const type: EntryInfo["type"] = hard ? "hardlink" : ft === AE_IFREG ? "file" : ft === AE_IFDIR ? "dir" : ft === AE_IFLNK ? "symlink" : "other";
    return {
      e,
      info: {
        // UTF-8 when it converts; this process runs in the C locale, where libarchive cannot turn a
        // UTF-16 name (7z, zip with the unicode flag) into bytes, but the wide form is always there.
        name: cstr(l.archive_entry_pathname_utf8(e)) || wstr(l.archive_entry_pathname_w(e)) || cstr(l.archive_entry_pathname(e)),
        type,
        size: l.archive_entry_size_is_set(e) ? Number(l.archive_entry_size(e)) : -1,
        encrypted: l.archive_entry_is_encrypted(e) !== 0,
        mode: cstr(l.archive_entry_strmode(e)),
        nlink: l.archive_entry_nlink(e),
        uname: cstr(l.archive_entry_uname(e)),
        gname: cstr(l.archive_entry_gname(e)),
        uid: Number(l.archive_entry_uid(e)),
        gid: Number(l.archive_entry_gid(e)),
        mtime: Number(l.archive_entry_mtime(e)),
        link: hard || sym,
      },
    };
  }
  /** Archive bytes read so far (before decompression), for the ratio guard. */
  rawBytes(): number {
    return Number(la().archive_filter_bytes(this.a, -1));
  }
  format(): { format: string; filters: string[] } {
    const l = la();
    const n = l.archive_filter_count(this.a);
    const filters: string[] = [];
    for (let i = 0; i < n; i++) {
      const f = cstr(l.archive_filter_name(this.a, i));
      if (f && f !== "none") filters.push(f);
    }
    return { format: cstr(l.archive_format_name(this.a)), filters };
  }
  /**
   * The current entry's data, within the limits; throws LimitError or ArchiveError. Read block by block
   * as bsdtar extracts (archive_read_data with a large buffer runs past an entry's end in the xar reader);
   * holes of sparse entries are zeros.
   */
  data(name: string, limits: UnpackLimits, budget: UnpackBudget, produced: { total: number }, signal?: AbortSignal): Uint8Array {
    const l = la();
    const chunks: Uint8Array[] = [];
    let size = 0;
    const check = () => {
      if (size > limits.maxEntrySize) throw new LimitError(`${name}: over the entry size limit of ${limits.maxEntrySize} bytes`);
      if (budget.used + size > limits.maxTotalSize) throw new LimitError(`${name}: total unpacked size would exceed the limit of ${limits.maxTotalSize} bytes`);
      if (produced.total > 1024 * 1024) {
        const ratio = produced.total / Math.max(1, this.rawBytes());
        if (ratio > limits.maxRatio) throw new LimitError(`${name}: compression ratio ${Math.round(ratio)}:1 is over the limit of ${limits.maxRatio}:1 (archive bomb?)`);
      }
    };
    const out = new BigUint64Array(3); // buff, size, offset
    for (;;) {
      signal?.throwIfAborted();
      const rc = l.archive_read_data_block(this.a, out, out.subarray(1), out.subarray(2));
      if (rc === ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) throw new ArchiveError(`${name}: ${this.error()}`, rc === ARCHIVE_FATAL);
      const n = Number(out[1]);
      const offset = Number(out[2]);
      if (offset > size) {
        // A hole: zeros up to the block (bounded by the same limits before anything is allocated).
        const gap = offset - size;
        size += gap;
        produced.total += gap;
        check();
        chunks.push(new Uint8Array(gap));
      }
      if (n > 0) {
        size += n;
        produced.total += n;
        check();
        chunks.push(new Uint8Array(toArrayBuffer(Number(out[0]) as Pointer, 0, n)).slice());
      }
    }
    budget.used += size;
    if (chunks.length === 1) return chunks[0]!;
    const buf = new Uint8Array(size);
    let o = 0;
    for (const c of chunks) {
      buf.set(c, o);
      o += c.length;
    }
    return buf;
  }
  close(): void {
    la().archive_read_free(this.a);
    this.keep.length = 0;
  }
}

/** The archive cannot be read (damaged, unknown format, wrong password): a FormatError like the parsers'. */
export class ArchiveError extends FormatError {
  override name = "ArchiveError";
  constructor(message: string, readonly fatal = true) {
    super(message);
  }
}

/** A guard stopped the unpacking (size, total, ratio, entry count). */
export class LimitError extends FormatError {
  override name = "LimitError";
}

function openReader(input: ArchiveInput, passwords: string[]): { r: Reader; raw: boolean } {
  try {
    const r = new Reader(input, passwords, false);
    return { r, raw: false };
  } catch (e) {
    if (!(e instanceof ArchiveError) || !/Unrecognized archive format/i.test(e.message)) throw e;
  }
  // A compressed stream that holds no archive (a lone .gz): read as one entry, when a filter is there.
  const r = new Reader(input, passwords, true);
  if (!r.format().filters.length) {
    r.close();
    throw new ArchiveError("not an archive libarchive reads (unrecognized format)");
  }
  return { r, raw: true };
}

/** The next entry header; damage past the entries already read ends the walk with its message, not a throw. */
function nextEntry(r: Reader): { n: ReturnType<Reader["next"]>; error?: string } {
  try {
    return { n: r.next() };
  } catch (e) {
    return { n: undefined, error: (e as Error).message };
  }
}

/** The entries of an archive without their data, as `bsdtar -tvf` lists them. */
export function listArchive(input: ArchiveInput, limits: UnpackLimits = DEFAULT_UNPACK_LIMITS): Listing {
  const { r } = openReader(input, []);
  const entries: EntryInfo[] = [];
  try {
    for (;;) {
      const { n, error } = nextEntry(r);
      if (error) return { ...r.format(), entries, error };
      if (!n) break;
      if (entries.length >= limits.maxEntries) return { ...r.format(), entries, error: `more than ${limits.maxEntries} entries` };
      entries.push(n.info);
    }
    return { ...r.format(), entries };
  } finally {
    r.close();
  }
}

export interface UnpackOptions {
  passwords: string[];
  limits?: UnpackLimits;
  budget?: UnpackBudget;
  signal?: AbortSignal;
  /** For a lone compressed stream: the name its one entry gets (the archive's name without .gz etc.). */
  rawName?: string;
}

export interface Unpacked {
  format: string;
  filters: string[];
  entries: UnpackedEntry[];
  /** Reading stopped here (damage or a guard); the entries before are kept. */
  error?: string;
}

const isPasswordError = (m: string) => /passphrase|password|decrypt|encrypt/i.test(m);

/**
 * Every regular file's data. Entries that need a password are read again with each password in turn
 * (one pass over the archive per password, only while some entry is still locked), so the password
 * that opened each entry is known.
 */
export function unpack(input: ArchiveInput, opts: UnpackOptions): Unpacked {
  const limits = opts.limits ?? DEFAULT_UNPACK_LIMITS;
  const budget = opts.budget ?? { used: 0 };
  const produced = { total: 0 };
  const { r, raw } = openReader(input, []);
  const entries: UnpackedEntry[] = [];
  const locked: number[] = [];
  let error: string | undefined;
  let fmt = r.format();
  try {
    for (;;) {
      const step = nextEntry(r);
      if (step.error) {
        error = step.error;
        break;
      }
      fmt = r.format();
      const n = step.n;
      if (!n) break;
      if (entries.length >= limits.maxEntries) {
        error = `more than ${limits.maxEntries} entries: the rest is not unpacked`;
        break;
      }
      const info = raw ? { ...n.info, name: opts.rawName || "data" } : n.info;
      const entry: UnpackedEntry = { ...info };
      entries.push(entry);
      if (info.type === "symlink" || info.type === "hardlink") {
        entry.error = `${info.type} to ${info.link}: links are listed, not followed`;
        continue;
      }
      if (info.type !== "file") continue;
      try {
        entry.data = r.data(info.name, limits, budget, produced, opts.signal);
        entry.password = "";
      } catch (e) {
        if (e instanceof LimitError) {
          entry.error = e.message;
          error = e.message;
          break;
        }
        if (!(e instanceof ArchiveError)) throw e;
        if (info.encrypted || isPasswordError(e.message)) {
          entry.error = `${info.name}: encrypted and no password given`;
          locked.push(entries.length - 1);
        } else entry.error = e.message;
        if (e.fatal && !info.encrypted) {
          error = e.message;
          break;
        }
      }
    }
  } finally {
    r.close();
  }
  for (const password of opts.passwords) {
    if (!locked.length) break;
    if (error && !locked.length) break;
    let x: Reader;
    try {
      x = openReader(input, [password]).r;
    } catch {
      break;
    }
    try {
      for (let i = 0; locked.length; i++) {
        const { n } = nextEntry(x);
        if (!n || i >= entries.length) break;
        if (!locked.includes(i)) continue;
        try {
          entries[i]!.data = x.data(entries[i]!.name, limits, budget, produced, opts.signal);
          entries[i]!.password = password;
          entries[i]!.error = undefined;
          locked.splice(locked.indexOf(i), 1);
        } catch (e) {
          if (e instanceof LimitError) {
            entries[i]!.error = e.message;
            locked.splice(locked.indexOf(i), 1);
            error ??= e.message;
            continue;
          }
          if (!(e instanceof ArchiveError)) throw e;
          // Wrong password (or damaged): the next password gets its own pass.
        }
      }
    } finally {
      x.close();
    }
  }
  for (const i of locked) entries[i]!.error = `${entries[i]!.name}: encrypted; ${opts.passwords.length ? `none of the ${opts.passwords.length} password(s) opens it` : "no password given"}`;
  return { ...fmt, entries, error };
}

/** One entry's data by name (the first entry of that name), for re-extraction by extrpath. */
export function extractByName(input: ArchiveInput, name: string, passwords: string[], limits: UnpackLimits = DEFAULT_UNPACK_LIMITS): Uint8Array {
  for (const pw of ["", ...passwords]) {
    const { r, raw } = openReader(input, pw ? [pw] : []);
    try {
      for (;;) {
        const n = r.next();
        if (!n) throw new ArchiveError(`${name} is no longer in the archive`);
        if (!raw && n.info.name !== name) continue;
        if (n.info.type !== "file") throw new ArchiveError(`${name} is not a regular file in the archive`);
        try {
          return r.data(name, limits, { used: 0 }, { total: 0 });
        } catch (e) {
          if (e instanceof ArchiveError && (n.info.encrypted || isPasswordError(e.message))) break;
          throw e;
        }
      }
    } finally {
      r.close();
    }
  }
  throw new ArchiveError(`${name}: encrypted; none of the ${passwords.length} password(s) opens it`);
}

