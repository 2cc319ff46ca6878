/**
 * A structural check of a Compound File (OLE2) before a reader that trusts it gets it: @kenjiuno/msgreader
 * follows sector chains and directory links as written, so a chain that loops (a mini FAT entry pointing
 * back at its own sector) hangs it forever. Every chain a reader may follow (DIFAT, FAT, directory, mini
 * FAT, mini stream, each stream) must stay inside the file and end without revisiting a sector, and the
 * directory tree must be a tree. Throws FormatError naming what is wrong.
 */
import { FormatError } from "./bytes.ts";

const END = 0xfffffffe;
const NOSTREAM = 0xffffffff;

export function checkCfb(b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fail = (what: string): never => {
    throw new FormatError(`damaged compound file: ${what}`);
  };
  if (b.length < 512) fail("shorter than its header");
  const shift = v.getUint16(30, true);
  if (shift !== 9 && shift !== 12) fail(`sector shift ${shift}`);
  const size = 1 << shift;
  const sectors = Math.floor((b.length - size) / size) + (b.length > size && (b.length - size) % size ? 1 : 0);
  const u32 = (sector: number, i: number) => {
    const o = (sector + 1) * size + i * 4;
    return o + 4 <= b.length ? v.getUint32(o, true) : fail(`sector ${sector} is past the end`);
  };
  // Counts a reader loops over (FAT, DIFAT and mini FAT sectors) cannot exceed the file's sectors: a
  // mutated DIFAT count of millions kept the reader busy for half a minute on a 14 KB file.
  const nFat = v.getUint32(44, true);
  for (const [what, n] of [["FAT", nFat], ["DIFAT", v.getUint32(72, true)], ["mini FAT", v.getUint32(64, true)]] as const) {
    if (n > sectors) fail(`${n} ${what} sectors in a file of ${sectors}`);
  }
  // The FAT's own sectors: 109 in the header, the rest through the DIFAT chain.
  const fatSectors: number[] = [];
  for (let i = 0; i < Math.min(nFat, 109); i++) fatSectors.push(v.getUint32(76 + i * 4, true));
  const seenDifat = new Set<number>();
  for (let s = v.getUint32(68, true); s < sectors && fatSectors.length < nFat; s = u32(s, size / 4 - 1)) {
    if (seenDifat.has(s)) fail("the DIFAT chain loops");
    seenDifat.add(s);
    for (let i = 0; i < size / 4 - 1 && fatSectors.length < nFat; i++) fatSectors.push(u32(s, i));
  }
  for (const s of fatSectors) if (s >= sectors) fail(`FAT sector ${s} is past the end`);
  const perSector = size / 4;
  const fat = (n: number) => (Math.floor(n / perSector) < fatSectors.length ? u32(fatSectors[Math.floor(n / perSector)]!, n % perSector) : fail(`sector ${n} has no FAT entry`));
  const chain = (start: number, next: (n: number) => number, limit: number, what: string): number[] => {
    const out: number[] = [];
    const seen = new Set<number>();
    for (let s = start; s !== END; s = next(s)) {
      if (s >= limit) fail(`${what}: sector ${s} is out of range`);
      if (seen.has(s)) fail(`${what}: the chain loops`);
      seen.add(s);
      out.push(s);
    }
    return out;
  };
  const dir = chain(v.getUint32(48, true), fat, sectors, "directory");
  const miniFat = chain(v.getUint32(60, true), fat, sectors, "mini FAT");
  const entry = (id: number) => (id < (dir.length * size) / 128 ? (dir[Math.floor((id * 128) / size)]! + 1) * size + ((id * 128) % size) : fail(`directory entry ${id} does not exist`));
  const cutoff = v.getUint32(56, true);
  const rootAt = entry(0);
  const miniStream = chain(v.getUint32(rootAt + 116, true), fat, sectors, "mini stream");
  const miniSectors = (miniStream.length * size) / 64;
  const miniNext = (n: number) => (Math.floor(n / perSector) < miniFat.length ? u32(miniFat[Math.floor(n / perSector)]!, n % perSector) : fail(`mini sector ${n} has no mini FAT entry`));
  // The tree from the root: every entry reached once.
  const seen = new Set<number>();
  const walk = [v.getUint32(rootAt + 76, true)];
  while (walk.length) {
    const id = walk.pop()!;
    if (id === NOSTREAM) continue;
    if (seen.has(id)) fail("the directory tree loops");
    seen.add(id);
    const at = entry(id);
    const type = b[at + 66];
    if (type === 2) {
      const len = Number(v.getBigUint64(at + 120, true) & 0xffffffffn);
      const start = v.getUint32(at + 116, true);
      if (len === 0) continue;
      const got = len < cutoff ? chain(start, miniNext, miniSectors, `stream ${id}`).length * 64 : chain(start, fat, sectors, `stream ${id}`).length * size;
      if (got < len) fail(`stream ${id} is shorter than its size`);
    }
    walk.push(v.getUint32(at + 68, true), v.getUint32(at + 72, true), v.getUint32(at + 76, true));
  }
}
