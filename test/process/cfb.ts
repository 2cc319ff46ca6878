/**
 * A minimal Compound File Binary writer (MS-CFB, version 3: 512-byte sectors, 64-byte mini sectors, the
 * DIFAT in the header only, so files up to ~7 MB), enough to build Outlook .msg test files: there is no
 * free .msg writer on this machine. Written from the MS-CFB specification. Siblings are chained through
 * their right pointers in CFB's name order, all black: readers walk the tree, none checks its balance.
 */

export type CfbNode = { name: string; data: Uint8Array } | { name: string; children: CfbNode[] };

const SECTOR = 512;
const MINI = 64;
const CUTOFF = 4096;
const FREE = 0xffffffff;
const END = 0xfffffffe;
const FATSECT = 0xfffffffd;
const NOSTREAM = 0xffffffff;

interface Entry {
  name: string;
  type: 1 | 2 | 5;
  data?: Uint8Array;
  left: number;
  right: number;
  child: number;
  start: number;
  size: number;
}

/** CFB's order of sibling names: shorter first, then by upper-cased UTF-16 code units. */
function cfbCompare(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  const ua = a.toUpperCase();
  const ub = b.toUpperCase();
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

export function writeCfb(root: CfbNode[]): Uint8Array {
  const entries: Entry[] = [{ name: "Root Entry", type: 5, left: NOSTREAM, right: NOSTREAM, child: NOSTREAM, start: END, size: 0 }];
  const add = (nodes: CfbNode[]): number => {
    const ids = [...nodes].sort((a, b) => cfbCompare(a.name, b.name)).map((n) => {
      const id = entries.length;
      entries.push({ name: n.name, type: "data" in n ? 2 : 1, data: "data" in n ? n.data : undefined, left: NOSTREAM, right: NOSTREAM, child: NOSTREAM, start: END, size: "data" in n ? n.data.length : 0 });
      if ("children" in n) entries[id]!.child = add(n.children);
      return id;
    });
    for (let i = 0; i + 1 < ids.length; i++) entries[ids[i]!]!.right = ids[i + 1]!;
    return ids.length ? ids[0]! : NOSTREAM;
  };
  entries[0]!.child = add(root);

  // Sectors after the header, in order: big streams, the mini stream, the mini FAT, the directory, the FAT.
  const sectors: Uint8Array[] = [];
  const fat: number[] = [];
  const place = (bytes: Uint8Array): number => {
    if (!bytes.length) return END;
    const first = sectors.length;
    for (let o = 0; o < bytes.length; o += SECTOR) {
      const s = new Uint8Array(SECTOR);
      s.set(bytes.subarray(o, o + SECTOR));
      sectors.push(s);
      fat.push(o + SECTOR < bytes.length ? sectors.length : END);
    }
    return first;
  };
  const mini: Uint8Array[] = [];
  const miniFat: number[] = [];
  for (const e of entries) {
    if (e.type !== 2 || !e.data!.length) continue;
    if (e.data!.length >= CUTOFF) {
      e.start = place(e.data!);
      continue;
    }
    e.start = mini.length;
    for (let o = 0; o < e.data!.length; o += MINI) {
      const s = new Uint8Array(MINI);
      s.set(e.data!.subarray(o, o + MINI));
      mini.push(s);
      miniFat.push(o + MINI < e.data!.length ? mini.length : END);
    }
  }
  const miniStream = new Uint8Array(mini.length * MINI);
  mini.forEach((m, i) => miniStream.set(m, i * MINI));
  entries[0]!.start = place(miniStream);
  entries[0]!.size = miniStream.length;
  const u32s = (xs: number[]) => {
    const b = new Uint8Array(Math.ceil((xs.length * 4) / SECTOR) * SECTOR).fill(0xff);
    const v = new DataView(b.buffer);
    xs.forEach((x, i) => v.setUint32(i * 4, x, true));
    return b;
  };
  const miniFatStart = place(miniFat.length ? u32s(miniFat) : new Uint8Array(0));
  const dir = new Uint8Array(Math.ceil(entries.length / 4) * SECTOR);
  const dv = new DataView(dir.buffer);
  entries.forEach((e, i) => {
    const o = i * 128;
    for (let c = 0; c < e.name.length; c++) dv.setUint16(o + c * 2, e.name.charCodeAt(c), true);
    dv.setUint16(o + 64, (e.name.length + 1) * 2, true);
    dir[o + 66] = e.type;
    dir[o + 67] = 1; // black
    dv.setUint32(o + 68, e.left, true);
    dv.setUint32(o + 72, e.right, true);
    dv.setUint32(o + 76, e.child, true);
    dv.setUint32(o + 116, e.type === 1 ? 0 : e.start, true);
    dv.setBigUint64(o + 120, BigInt(e.size), true);
  });
  // Unused directory slots are empty entries whose links say "none".
  for (let i = entries.length; i < dir.length / 128; i++) for (const f of [68, 72, 76]) dv.setUint32(i * 128 + f, NOSTREAM, true);
  const dirStart = place(dir);

  let nFat = 1;
  while (nFat * (SECTOR / 4) < sectors.length + nFat) nFat++;
  if (nFat > 109) throw new Error("cfb: too large for a header-only DIFAT");
  const fatStart = sectors.length;
  for (let i = 0; i < nFat; i++) fat.push(FATSECT);
  for (const s of [...Array(nFat)].map((_, i) => u32s(fat).subarray(i * SECTOR, (i + 1) * SECTOR))) sectors.push(s.length ? s : new Uint8Array(SECTOR).fill(0xff));

  const header = new Uint8Array(SECTOR);
  const hv = new DataView(header.buffer);
  header.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
  hv.setUint16(24, 0x3e, true);
  hv.setUint16(26, 3, true);
  hv.setUint16(28, 0xfffe, true);
  hv.setUint16(30, 9, true);
  hv.setUint16(32, 6, true);
  hv.setUint32(44, nFat, true);
  hv.setUint32(48, dirStart, true);
  hv.setUint32(56, CUTOFF, true);
  hv.setUint32(60, miniFat.length ? miniFatStart : END, true);
  hv.setUint32(64, Math.ceil((miniFat.length * 4) / SECTOR), true);
  hv.setUint32(68, END, true);
  for (let i = 0; i < 109; i++) hv.setUint32(76 + i * 4, i < nFat ? fatStart + i : FREE, true);
  const out = new Uint8Array(SECTOR * (1 + sectors.length));
  out.set(header);
  sectors.forEach((s, i) => out.set(s, SECTOR * (1 + i)));
  return out;
}
