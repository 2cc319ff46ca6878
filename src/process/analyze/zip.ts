/**
 * A bounded zip reader: central directory (zip64 too), stored and deflate entries, ZipCrypto passwords.
 * Limits on entry count, entry size, total size and compression ratio stop zip bombs before inflating;
 * the inflater itself is capped at the declared size so a lying header cannot blow past them.
 * AES-encrypted entries (WinZip method 99) are refused with a clear error.
 */
import { inflateRawSync } from "node:zlib";
import { type ByteSource, FormatError, View, latin1 } from "./bytes.ts";

export interface ZipLimits {
  maxEntries: number;
  /** Largest uncompressed entry accepted. */
  maxEntrySize: number;
  /** Largest total of uncompressed bytes over all entries extracted with one budget. */
  maxTotalSize: number;
  /** Largest uncompressed/compressed ratio for entries above 1 MiB. */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 10_000,
  maxEntrySize: 256 * 1024 * 1024,
  maxTotalSize: 1024 * 1024 * 1024,
  maxRatio: 250,
};

export type ZipErrorCode = "not_zip" | "corrupt" | "too_many_entries" | "too_large" | "ratio" | "encrypted" | "wrong_password" | "aes" | "unsupported_method" | "crc";

export class ZipError extends FormatError {
  constructor(readonly code: ZipErrorCode, message: string) {
    super(message);
    this.name = "ZipError";
  }
}

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  encrypted: boolean;
  /** WinZip AES (method 99) or PKWARE strong encryption: not supported. */
  aes: boolean;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  isDir: boolean;
  /** DOS time field, used by the ZipCrypto header check when sizes follow the data. */
  dosTime: number;
}

export interface ZipDirectory {
  entries: ZipEntry[];
  /** Bytes in front of the archive (self-extractors), added to every offset. */
  prefix: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOC = 0x07064b50;
const SIG_CDH = 0x02014b50;
const SIG_LFH = 0x04034b50;

export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

function findEocd(src: ByteSource): { view: View; at: number; base: number } {
  const tailLen = Math.min(src.size, 22 + 0xffff + 20);
  const base = src.size - tailLen;
  const tail = src.read(base, tailLen);
  const view = new View(tail);
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail[i] === 0x50 && tail[i + 1] === 0x4b && tail[i + 2] === 5 && tail[i + 3] === 6) {
      const commentLen = view.u16(i + 20);
      if (i + 22 + commentLen <= tail.length) return { view, at: i, base };
    }
  }
  throw new ZipError("not_zip", "not a zip archive: no end of central directory record");
}

export function readZipDirectory(src: ByteSource, limits: ZipLimits = DEFAULT_ZIP_LIMITS): ZipDirectory {
  const { view: tv, at, base } = findEocd(src);
  if (tv.u32(at) !== SIG_EOCD) throw new ZipError("not_zip", "not a zip archive");
  let count = tv.u16(at + 10);
  let cdSize = tv.u32(at + 12);
  let cdOffset = tv.u32(at + 16);
  const eocdPos = base + at;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    if (at >= 20 && tv.u32(at - 20) === SIG_EOCD64_LOC) {
      const off64 = tv.u64(at - 20 + 8);
      const rec = new View(src.read(off64, 56));
      if (rec.length < 56 || rec.u32(0) !== SIG_EOCD64) throw new ZipError("corrupt", "zip64 end of central directory record is missing");
      count = rec.u64(32);
      cdSize = rec.u64(40);
      cdOffset = rec.u64(48);
    }
  }
  if (count > limits.maxEntries) throw new ZipError("too_many_entries", `zip has ${count} entries, over the limit of ${limits.maxEntries}`);
  if (cdSize > 64 * 1024 * 1024 || cdSize > src.size) throw new ZipError("corrupt", `central directory size ${cdSize} is implausible`);
  // Self-extractors and appended data shift every offset: trust where the directory actually ends.
  let prefix = 0;
  const sigAt = (o: number) => {
    const b = src.read(o, 4);
    return b.length === 4 && new View(b).u32(0) === SIG_CDH;
  };
  if (count > 0 && !sigAt(cdOffset)) {
    const actual = eocdPos - cdSize;
    if (actual >= 0 && sigAt(actual)) prefix = actual - cdOffset;
    else throw new ZipError("corrupt", "central directory not found at its recorded offset");
  }
  const cd = new View(src.read(cdOffset + prefix, cdSize));
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (!cd.has(p, 46) || cd.u32(p) !== SIG_CDH) throw new ZipError("corrupt", `central directory entry ${i} is damaged`);
    const flags = cd.u16(p + 8);
    let method = cd.u16(p + 10);
    const dosTime = cd.u16(p + 12);
    const crc32 = cd.u32(p + 16);
    let compressedSize = cd.u32(p + 20);
    let size = cd.u32(p + 24);
    const nameLen = cd.u16(p + 28);
    const extraLen = cd.u16(p + 30);
    const commentLen = cd.u16(p + 32);
    let localHeaderOffset = cd.u32(p + 42);
    const nameBytes = cd.bytes(p + 46, nameLen);
    const name = flags & 0x800 ? new TextDecoder().decode(nameBytes) : latin1(nameBytes);
    let aes = (flags & 0x40) !== 0;
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd && cd.has(e, 4)) {
      const id = cd.u16(e);
      const len = cd.u16(e + 2);
      if (id === 0x0001) {
        // zip64: only the fields that overflowed are present, in this order.
        let q = e + 4;
        if (size === 0xffffffff && q + 8 <= e + 4 + len) { size = cd.u64(q); q += 8; }
        if (compressedSize === 0xffffffff && q + 8 <= e + 4 + len) { compressedSize = cd.u64(q); q += 8; }
        if (localHeaderOffset === 0xffffffff && q + 8 <= e + 4 + len) { localHeaderOffset = cd.u64(q); q += 8; }
      } else if (id === 0x9901) {
        aes = true;
        if (cd.has(e + 4, 7)) method = cd.u16(e + 4 + 5);
      }
      e += 4 + len;
    }
    entries.push({
      name,
      method: aes ? 99 : method,
      flags,
      encrypted: (flags & 1) !== 0,
      aes,
      crc32,
      compressedSize,
      size,
      localHeaderOffset: localHeaderOffset + prefix,
      isDir: name.endsWith("/") || name.endsWith("\\"),
      dosTime,
    });
    p = extraEnd + commentLen;
  }
  return { entries, prefix };
}

// ZipCrypto (traditional PKWARE encryption): three keys stirred by CRC-32 of the plaintext.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

class ZipCryptoKeys {
  k0 = 0x12345678;
  k1 = 0x23456789;
  k2 = 0x34567890;
  constructor(password: Uint8Array) {
    for (const b of password) this.update(b);
  }
  update(b: number): void {
    this.k0 = (CRC_TABLE[(this.k0 ^ b) & 0xff]! ^ (this.k0 >>> 8)) >>> 0;
    this.k1 = (Math.imul((this.k1 + (this.k0 & 0xff)) >>> 0, 134775813) + 1) >>> 0;
    this.k2 = (CRC_TABLE[(this.k2 ^ (this.k1 >>> 24)) & 0xff]! ^ (this.k2 >>> 8)) >>> 0;
  }
  decrypt(buf: Uint8Array): Uint8Array {
    const out = new Uint8Array(buf.length);
    for (let i = 0; i < buf.length; i++) {
      const t = (this.k2 | 2) & 0xffff;
      const c = buf[i]! ^ ((Math.imul(t, t ^ 1) >>> 8) & 0xff);
      this.update(c);
      out[i] = c;
    }
    return out;
  }
}

/** Tracks the uncompressed bytes handed out across one unpacking, against maxTotalSize. */
export interface ZipBudget {
  used: number;
}

export interface ExtractOptions {
  passwords?: string[];
  limits?: ZipLimits;
  budget?: ZipBudget;
}

export interface Extracted {
  data: Uint8Array;
  /** The password that opened it, for encrypted entries. */
  password?: string;
}

function checkLimits(e: ZipEntry, limits: ZipLimits, budget?: ZipBudget): void {
  if (e.size > limits.maxEntrySize) throw new ZipError("too_large", `${e.name}: ${e.size} bytes uncompressed, over the limit of ${limits.maxEntrySize}`);
  if (e.size > 1024 * 1024 && e.size / Math.max(1, e.compressedSize) > limits.maxRatio)
    throw new ZipError("ratio", `${e.name}: compression ratio ${Math.round(e.size / Math.max(1, e.compressedSize))}:1 is over the limit of ${limits.maxRatio}:1 (zip bomb?)`);
  if (budget && budget.used + e.size > limits.maxTotalSize)
    throw new ZipError("too_large", `${e.name}: total unpacked size would exceed the limit of ${limits.maxTotalSize} bytes`);
}

function decompress(e: ZipEntry, body: Uint8Array): Uint8Array {
  if (e.method === 0) {
    if (body.length !== e.size) throw new ZipError("corrupt", `${e.name}: stored size ${body.length} differs from the declared ${e.size}`);
    return body;
  }
  if (e.method !== 8) throw new ZipError("unsupported_method", `${e.name}: compression method ${e.method} is not supported (stored and deflate only)`);
  let out: Uint8Array;
  try {
    // Capped at the declared size: an entry that inflates to more is lying about itself.
    out = inflateRawSync(body, { maxOutputLength: Math.max(1, e.size) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") throw new ZipError("ratio", `${e.name}: inflates past its declared size of ${e.size} bytes`);
    throw new ZipError("corrupt", `${e.name}: deflate data is damaged (${(err as Error).message})`);
  }
  if (out.length !== e.size) throw new ZipError("corrupt", `${e.name}: inflated to ${out.length} bytes, ${e.size} declared`);
  return out;
}

export function extractEntry(src: ByteSource, e: ZipEntry, opts: ExtractOptions = {}): Extracted {
  const limits = opts.limits ?? DEFAULT_ZIP_LIMITS;
  if (e.isDir) return { data: new Uint8Array(0) };
  if (e.aes) throw new ZipError("aes", `${e.name}: AES-encrypted zip entries are not supported (only ZipCrypto passwords, as made by zip -P)`);
  checkLimits(e, limits, opts.budget);
  const lh = new View(src.read(e.localHeaderOffset, 30));
  if (lh.length < 30 || lh.u32(0) !== SIG_LFH) throw new ZipError("corrupt", `${e.name}: local header missing at offset ${e.localHeaderOffset}`);
  const dataOff = e.localHeaderOffset + 30 + lh.u16(26) + lh.u16(28);
  const raw = src.read(dataOff, e.compressedSize);
  if (raw.length !== e.compressedSize) throw new ZipError("corrupt", `${e.name}: data truncated`);

  let result: Extracted;
  if (!e.encrypted) {
    result = { data: decompress(e, raw) };
  } else {
    if (raw.length < 12) throw new ZipError("corrupt", `${e.name}: encrypted data too short`);
    const passwords = opts.passwords ?? [];
    if (!passwords.length) throw new ZipError("encrypted", `${e.name}: encrypted and no password given`);
    const check = e.flags & 8 ? (e.dosTime >>> 8) & 0xff : e.crc32 >>> 24;
    let found: Extracted | undefined;
    for (const pw of passwords) {
      const keys = new ZipCryptoKeys(new TextEncoder().encode(pw));
      const header = keys.decrypt(raw.subarray(0, 12));
      if (header[11] !== check) continue;
      try {
        const data = decompress(e, keys.decrypt(raw.subarray(12)));
        // The header check passes for 1 in 256 wrong passwords; the CRC settles it.
        if ((Bun.hash.crc32(data) >>> 0) !== e.crc32) continue;
        found = { data, password: pw };
        break;
      } catch (err) {
        if (err instanceof ZipError && err.code === "ratio") throw err;
      }
    }
    if (!found) throw new ZipError("wrong_password", `${e.name}: none of the ${passwords.length} password(s) opens it`);
    result = found;
  }
  if (!e.encrypted && (Bun.hash.crc32(result.data) >>> 0) !== e.crc32) throw new ZipError("crc", `${e.name}: CRC-32 mismatch, the data is damaged`);
  if (opts.budget) opts.budget.used += result.data.length;
  return result;
}
