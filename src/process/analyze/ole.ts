/**
 * Just enough of the Compound File Binary format (OLE2: doc, xls, ppt, msi, msg) to list the directory:
 * stream names and the root CLSID tell which Office application wrote it and whether it carries macros.
 */
import { type ByteSource, FormatError, View, startsWith } from "./bytes.ts";

export const OLE_MAGIC = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

export interface OleEntry {
  name: string;
  /** 1 storage, 2 stream, 5 root */
  type: number;
  size: number;
}

export interface OleDirectory {
  entries: OleEntry[];
  /** Root storage CLSID as a GUID string. */
  clsid: string;
}

const END_OF_CHAIN = 0xfffffffe;
const MAX_DIR_SECTORS = 1024;

function guid(b: Uint8Array): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, "0");
  const r = (idx: number[]) => idx.map(h).join("");
  return `${r([3, 2, 1, 0])}-${r([5, 4])}-${r([7, 6])}-${r([8, 9])}-${r([10, 11, 12, 13, 14, 15])}`.toUpperCase();
}

export function readOleDirectory(src: ByteSource): OleDirectory {
  const hdr = new View(src.read(0, 512));
  if (hdr.length < 512 || !startsWith(hdr.buf, OLE_MAGIC)) throw new FormatError("not an OLE compound file");
  const shift = hdr.u16(0x1e);
  if (shift !== 9 && shift !== 12) throw new FormatError(`OLE sector shift ${shift} is invalid`);
  const sectorSize = 1 << shift;
  const numFat = hdr.u32(0x2c);
  const fatSectors: number[] = [];
  for (let i = 0; i < Math.min(numFat, 109); i++) fatSectors.push(hdr.u32(0x4c + i * 4));
  const perFat = sectorSize / 4;
  const sectorAt = (n: number) => (n + 1) * sectorSize;
  const fatCache = new Map<number, View>();
  const next = (n: number): number => {
    const fi = Math.floor(n / perFat);
    if (fi >= fatSectors.length) return END_OF_CHAIN;
    let v = fatCache.get(fi);
    if (!v) {
      v = new View(src.read(sectorAt(fatSectors[fi]!), sectorSize));
      fatCache.set(fi, v);
    }
    const off = (n % perFat) * 4;
    return v.has(off, 4) ? v.u32(off) : END_OF_CHAIN;
  };

  const entries: OleEntry[] = [];
  let clsid = "";
  const seen = new Set<number>();
  for (let s = hdr.u32(0x30), k = 0; s < 0xfffffffa && k < MAX_DIR_SECTORS && !seen.has(s); s = next(s), k++) {
    seen.add(s);
    const sec = new View(src.read(sectorAt(s), sectorSize));
    if (sec.length < sectorSize) break;
    for (let o = 0; o + 128 <= sectorSize; o += 128) {
      const type = sec.u8(o + 0x42);
      if (type === 0) continue;
      const nameLen = Math.min(64, sec.u16(o + 0x40));
      const name = Buffer.from(sec.bytes(o, Math.max(0, nameLen - 2))).toString("utf16le");
      if (type === 5 && !clsid) clsid = guid(sec.bytes(o + 0x50, 16));
      entries.push({ name, type, size: sec.u32(o + 0x78) });
    }
  }
  return { entries, clsid };
}
