/**
 * RAR 4.x archives with "stored" entries (method 0x30), written from the public RAR 4 technote (no free
 * rar writer exists here): the marker block, the main archive header, one file header per entry (header
 * CRC: the low 16 bits of the CRC32 of the header from HEAD_TYPE on; FILE_CRC: the CRC32 of the data;
 * DOS time; Unix or Windows attributes; directories flagged by the dictionary bits; non-ASCII names in
 * RAR's Unicode name encoding) and the end-of-archive block.
 */

export interface RarEntry {
  name: string;
  /** Absent for a directory. */
  data?: Uint8Array;
  /** Unix seconds; stored as DOS time (2-second steps, local time as libarchive reads it: run with TZ=UTC). */
  mtime: number;
  host: "unix" | "windows";
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function dosTime(unix: number): number {
  const d = new Date(unix * 1000);
  return (((d.getUTCFullYear() - 1980) << 25) | ((d.getUTCMonth() + 1) << 21) | (d.getUTCDate() << 16) | (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1)) >>> 0;
}

/** RAR's Unicode name: the high byte first, then per 4 characters a flags byte; flag 2 = low and high byte given. */
function unicodeName(name: string): Uint8Array {
  const units = Array.from({ length: name.length }, (_, i) => name.charCodeAt(i));
  const out: number[] = [0];
  for (let i = 0; i < units.length; i += 4) {
    const group = units.slice(i, i + 4);
    let flags = 0;
    group.forEach((_, j) => (flags |= 2 << (6 - 2 * j)));
    out.push(flags);
    for (const u of group) out.push(u & 0xff, u >> 8);
  }
  return Uint8Array.from(out);
}

/** A block: HEAD_CRC over the bytes from HEAD_TYPE to the header's end, then the header. */
function block(type: number, flags: number, body: Uint8Array): Uint8Array {
  const h = new Uint8Array(7 + body.length);
  const v = new DataView(h.buffer);
  h[2] = type;
  v.setUint16(3, flags, true);
  v.setUint16(5, h.length, true);
  h.set(body, 7);
  v.setUint16(0, crc32(h.subarray(2)) & 0xffff, true);
  return h;
}

export function writeRar4(entries: RarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x00])];
  parts.push(block(0x73, 0, new Uint8Array(6)));
  for (const e of entries) {
    const data = e.data ?? new Uint8Array(0);
    const ascii = /^[\x20-\x7e]*$/.test(e.name);
    const sep = e.host === "windows" ? "\\" : "/";
    const stored = e.name.split("/").join(sep);
    const name = ascii ? new TextEncoder().encode(stored) : Uint8Array.from([...Buffer.from(stored.replace(/[^\x20-\x7e]/g, "_"), "latin1"), 0, ...unicodeName(stored)]);
    const body = new Uint8Array(25 + name.length);
    const v = new DataView(body.buffer);
    v.setUint32(0, data.length, true); // PACK_SIZE
    v.setUint32(4, data.length, true); // UNP_SIZE
    body[8] = e.host === "windows" ? 2 : 3;
    v.setUint32(9, crc32(data), true);
    v.setUint32(13, dosTime(e.mtime), true);
    body[17] = 20; // version needed: 2.0
    body[18] = 0x30; // stored
    v.setUint16(19, name.length, true);
    const dir = e.data === undefined;
    const attr = e.host === "windows" ? (dir ? 0x10 : 0x20) : dir ? 0o40755 : 0o100644;
    v.setUint32(21, attr, true);
    body.set(name, 25);
    // 0x8000: data follows (LONG_BLOCK); 0x00e0: a directory; 0x0200: the name carries Unicode.
    const flags = 0x8000 | (dir ? 0x00e0 : 0) | (ascii ? 0 : 0x0200);
    parts.push(block(0x74, flags, body), data);
  }
  parts.push(block(0x7b, 0x4000, new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
