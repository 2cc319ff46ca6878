/**
 * Bounded reads over untrusted bytes. Every parser in analyze/ reads through these so a truncated or
 * hostile file gives a typed error (or a default) instead of reading past the end.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}

/** Random access to a file's bytes without holding all of it: what type detection and zip reading need. */
export interface ByteSource {
  readonly size: number;
  /** Up to `length` bytes at `offset` (fewer at the end of the source). */
  read(offset: number, length: number): Uint8Array;
}

export function bufferSource(buf: Uint8Array): ByteSource {
  return {
    size: buf.length,
    read: (offset, length) => (offset >= buf.length || offset < 0 ? new Uint8Array(0) : buf.subarray(offset, Math.min(buf.length, offset + length))),
  };
}

/** A source over an open file; close() it when done. */
export function fileSource(path: string): ByteSource & { close(): void } {
  const fd = openSync(path, "r");
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset, length) {
      if (offset < 0 || offset >= size) return new Uint8Array(0);
      const n = Math.min(length, size - offset);
      const out = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const r = readSync(fd, out, got, n - got, offset + got);
        if (r <= 0) break;
        got += r;
      }
      return got === n ? out : out.subarray(0, got);
    },
    close: () => closeSync(fd),
  };
}

/** Little/big-endian integer reads that throw FormatError past the end. */
export class View {
  readonly dv: DataView;
  private text?: TextView;
  constructor(readonly buf: Uint8Array, readonly le = true) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get length(): number {
    return this.buf.length;
  }
  has(off: number, len: number): boolean {
    return Number.isInteger(off) && off >= 0 && len >= 0 && off + len <= this.buf.length;
  }
  private need(off: number, len: number, what: string): void {
    if (!this.has(off, len)) throw new FormatError(`truncated: ${what} at offset ${off} is past the end (${this.buf.length} bytes)`);
  }
  u8(off: number): number {
    this.need(off, 1, "u8");
    return this.buf[off]!;
  }
  u16(off: number): number {
    this.need(off, 2, "u16");
    return this.dv.getUint16(off, this.le);
  }
  u32(off: number): number {
    this.need(off, 4, "u32");
    return this.dv.getUint32(off, this.le);
  }
  i32(off: number): number {
    this.need(off, 4, "i32");
    return this.dv.getInt32(off, this.le);
  }
  /** 64-bit values as numbers: exact up to 2^53, which covers every offset and size a file can have. */
  u64(off: number): number {
    this.need(off, 8, "u64");
    // Two 32-bit reads: BigInt per value is slow in symbol tables with thousands of entries.
    const lo = this.dv.getUint32(this.le ? off : off + 4, this.le);
    const hi = this.dv.getUint32(this.le ? off + 4 : off, this.le);
    return hi * 4294967296 + lo;
  }
  /** 64-bit values that may exceed 2^53 (addresses), as hex text. */
  u64hex(off: number): string {
    this.need(off, 8, "u64");
    const hi = this.dv.getUint32(this.le ? off + 4 : off, this.le);
    if (hi < 0x200000) return "0x" + this.u64(off).toString(16);
    return "0x" + this.dv.getBigUint64(off, this.le).toString(16);
  }
  bytes(off: number, len: number): Uint8Array {
    this.need(off, len, "bytes");
    return this.buf.subarray(off, off + len);
  }
  /** A NUL-terminated latin1 string of at most `max` bytes; "" when off is outside. */
  cstr(off: number, max = 4096): string {
    if (off < 0 || off >= this.buf.length) return "";
    const end = Math.min(this.buf.length, off + max);
    let i = off;
    while (i < end && this.buf[i] !== 0) i++;
    // One Buffer view per View: symbol tables call this thousands of times.
    this.text ??= textView(this.buf);
    return this.text.latin1Slice(off, i);
  }
}

export function latin1(b: Uint8Array): string {
  // Buffer, not TextDecoder: WHATWG "latin1" is windows-1252 and would remap 0x80-0x9f.
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

export function utf16le(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength & ~1).toString("utf16le");
}

/** Regions above this get their entropy from evenly spaced samples of this many bytes in all. */
export const ENTROPY_EXACT_LIMIT = 1024 * 1024;
const SAMPLE_BLOCK = 8 * 1024;

/**
 * Shannon entropy in bits per byte (0..8), as pefile computes it for sections. Regions over 1 MiB are
 * estimated from 128 evenly spaced 8 KiB blocks (within about a tenth of a bit of the exact value on
 * real code and data, e.g. 6.27 for 6.33 on a 3 MiB .rodata): a large section's entropy does not need every byte, and counting them all was a
 * third of the pre stage's time.
 */
export function entropy(buf: Uint8Array, start = 0, end = buf.length): number {
  const s = Math.max(0, start);
  const e = Math.min(buf.length, end);
  const n = e - s;
  if (n <= 0) return 0;
  const c = new Int32Array(1024);
  let total = n;
  if (n <= ENTROPY_EXACT_LIMIT) countBytes(buf, s, e, c);
  else {
    const blocks = ENTROPY_EXACT_LIMIT / SAMPLE_BLOCK;
    const step = (n - SAMPLE_BLOCK) / (blocks - 1);
    for (let b = 0; b < blocks; b++) {
      const from = s + Math.floor(b * step);
      countBytes(buf, from, from + SAMPLE_BLOCK, c);
    }
    total = blocks * SAMPLE_BLOCK;
  }
  let h = 0;
  for (let k = 0; k < 256; k++) {
    const x = c[k]! + c[256 + k]! + c[512 + k]! + c[768 + k]!;
    if (x) {
      const p = x / total;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/**
 * Byte histogram of buf[from, to) into four 256-entry tables of c (summed by the caller): a 32-bit
 * word at a time where the bytes are aligned, one table per byte lane, so equal neighbouring bytes
 * (common in code and padding) do not wait on each other's increment.
 */
function countBytes(buf: Uint8Array, from: number, to: number, c: Int32Array): void {
  let i = from;
  const aligned = (buf.byteOffset + i) & 3 ? Math.min(to, i + (4 - ((buf.byteOffset + i) & 3))) : i;
  for (; i < aligned; i++) c[buf[i]!]!++;
  const words = (to - i) >> 2;
  if (words > 0) {
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let k = 0; k < words; k++) {
      const w = u32[k]!;
      c[w & 255]!++;
      c[256 + ((w >>> 8) & 255)]!++;
      c[512 + ((w >>> 16) & 255)]!++;
      c[768 + (w >>> 24)]!++;
    }
    i += words << 2;
  }
  for (; i < to; i++) c[buf[i]!]!++;
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Cuckoo3's address format: 0x-prefixed, zero-padded to 8 digits. */
export function hex8(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}

export function startsWith(buf: Uint8Array, sig: ArrayLike<number>, at = 0): boolean {
  if (at + sig.length > buf.length) return false;
  for (let i = 0; i < sig.length; i++) if (buf[at + i] !== sig[i]) return false;
  return true;
}

export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

/** Node's undocumented fast slicers (no argument juggling): strings out of one shared Buffer view. */
export type TextView = Buffer & { latin1Slice(start: number, end: number): string; ucs2Slice(start: number, end: number): string };

export function textView(buf: Uint8Array): TextView {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) as TextView;
}
