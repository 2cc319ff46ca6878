// Random tree operations for the sync convergence fuzz (src/sync/converge.test.ts): a seeded
// generator of the changes a shared tree goes through (create, modify, delete, rename, chmod,
// file <-> folder <-> symlink, deep and wide), and a snapshot of a tree to compare two of them.
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, type Stats } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
export { seededRandom as rng } from "../seeded.ts";


interface Entry {
  rel: string;
  kind: "f" | "d" | "l";
}

function entries(root: string, rel = "", out: Entry[] = []): Entry[] {
  let names: string[];
  try {
    names = readdirSync(rel ? join(root, rel) : root);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    if (n.includes("\\") || n.includes("\uFFFD")) continue; // refused names: only ever made, never picked
    const p = rel ? `${rel}/${n}` : n;
    let st: Stats;
    try {
      st = lstatSync(join(root, p));
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) out.push({ rel: p, kind: "l" });
    else if (st.isDirectory()) {
      out.push({ rel: p, kind: "d" });
      entries(root, p, out);
    } else out.push({ rel: p, kind: "f" });
  }
  return out;
}

const NAMES = ["a", "b", "c", "d", "e", "sub", "x.txt", "y.bin", "Zé", "new dir", "n\nl"];
const FILE_MODES = [0o644, 0o600, 0o640, 0o755, 0o444, 0o700, 0o4755, 0o2711, 0o000];
const DIR_MODES = [0o755, 0o700, 0o750, 0o711, 0o500, 0o1777, 0o2755];

export interface FuzzOptions {
  /** Names the worker must refuse (backslash, not UTF-8): made on the master only. */
  refusedNames: boolean;
}

/** Apply one random operation to the tree at `root`; returns what it did, for a failing seed's story. */
export function randomOp(root: string, r: () => number, o: FuzzOptions): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const all = entries(root);
  const dirs = ["", ...all.filter((e) => e.kind === "d").map((e) => e.rel)];
  const files = all.filter((e) => e.kind === "f");
  const links = all.filter((e) => e.kind === "l");
  const at = (rel: string) => join(root, rel);
  const content = (): Buffer => {
    const kind = r();
    const size = kind < 0.15 ? 0 : kind < 0.8 ? Math.floor(r() * 300) : Math.floor(r() * 70_000);
    const words = new Uint32Array(Math.ceil(size / 4));
    for (let i = 0; i < words.length; i++) words[i] = (r() * 4294967296) >>> 0;
    const b = Buffer.from(words.buffer, 0, size);
    // A run of zeros now and then (what sparse files are made of).
    if (size > 8192 && r() < 0.5) b.fill(0, Math.floor(r() * (size >> 1)), size - Math.floor(r() * (size >> 2)));
    return b;
  };
  const freshPath = (): string | null => {
    const d = pick(dirs);
    for (let i = 0; i < 4; i++) {
      const p = d ? `${d}/${pick(NAMES)}` : pick(NAMES);
      try {
        lstatSync(at(p));
      } catch {
        return p;
      }
    }
    return null;
  };
  const big = all.length > 120;
  const ops = ["create", "create", "modify", "delete", "rename", "chmod", "tofile", "todir", "tolink", "wide", "deep"];
  if (o.refusedNames) ops.push("badname");
  const op = big && r() < 0.5 ? "delete" : pick(ops);
  switch (op) {
    case "create": {
      const p = freshPath();
      if (!p) return "create: no free name";
      writeFileSync(at(p), content(), { mode: pick(FILE_MODES) & 0o777 });
      return `create ${p}`;
    }
    case "modify": {
      if (!files.length) return "modify: no file";
      const f = pick(files);
      const old = readFileSync(at(f.rel));
      // Same size, other bytes now and then: only the hash can tell.
      const body = r() < 0.4 && old.length ? Buffer.from(old.map((x) => x ^ 0x5a)) : content();
      writeFileSync(at(f.rel), body);
      return `modify ${f.rel}`;
    }
    case "delete": {
      if (!all.length) return "delete: empty";
      const e = pick(all);
      rmSync(at(e.rel), { recursive: true, force: true });
      return `delete ${e.rel}`;
    }
    case "rename": {
      if (!all.length) return "rename: empty";
      const e = pick(all);
      const to = freshPath();
      if (!to || to === e.rel || to.startsWith(`${e.rel}/`)) return "rename: no target";
      renameSync(at(e.rel), at(to));
      return `rename ${e.rel} -> ${to}`;
    }
    case "chmod": {
      const cands = [...files, ...all.filter((e) => e.kind === "d")];
      if (!cands.length) return "chmod: nothing";
      const e = pick(cands);
      const m = pick(e.kind === "d" ? DIR_MODES : FILE_MODES);
      chmodSync(at(e.rel), m);
      return `chmod ${e.rel} ${m.toString(8)}`;
    }
    case "tofile": {
      const cands = [...all.filter((e) => e.kind === "d"), ...links];
      if (!cands.length) return "tofile: nothing";
      const e = pick(cands);
      rmSync(at(e.rel), { recursive: true, force: true });
      writeFileSync(at(e.rel), content());
      return `${e.kind === "d" ? "folder" : "symlink"} -> file ${e.rel}`;
    }
    case "todir": {
      const cands = [...files, ...links];
      if (!cands.length) return "todir: nothing";
      const e = pick(cands);
      rmSync(at(e.rel), { force: true });
      mkdirSync(at(e.rel), { mode: 0o755 });
      const [n1, n2] = [pick(NAMES), pick(NAMES)];
      if (r() < 0.7) writeFileSync(at(`${e.rel}/${n1}`), content());
      if (r() < 0.3 && n2 !== n1) mkdirSync(at(`${e.rel}/${n2}`), { recursive: true });
      return `${e.kind === "f" ? "file" : "symlink"} -> folder ${e.rel}`;
    }
    case "tolink": {
      const cands = [...files, ...all.filter((e) => e.kind === "d")];
      if (!cands.length) return "tolink: nothing";
      const e = pick(cands);
      rmSync(at(e.rel), { recursive: true, force: true });
      symlinkSync(pick(["/etc", "..", "a", "../../outside", "sub/x.txt"]), at(e.rel));
      return `${e.kind === "f" ? "file" : "folder"} -> symlink ${e.rel}`;
    }
    case "wide": {
      const p = freshPath();
      if (!p) return "wide: no free name";
      mkdirSync(at(p));
      const n = 5 + Math.floor(r() * 30);
      for (let i = 0; i < n; i++) writeFileSync(at(`${p}/w${i}`), content().subarray(0, 200));
      return `wide ${p} (${n} files)`;
    }
    case "deep": {
      const p = freshPath();
      if (!p) return "deep: no free name";
      const depth = 3 + Math.floor(r() * 6);
      let cur = p;
      for (let i = 0; i < depth; i++) cur += `/${pick(NAMES)}`;
      mkdirSync(at(cur), { recursive: true });
      writeFileSync(at(`${cur}/leaf`), content());
      return `deep ${cur}`;
    }
    case "badname": {
      const d = pick(dirs);
      if (r() < 0.5) {
        const p = d ? `${d}/back\\slash${Math.floor(r() * 3)}` : `back\\slash${Math.floor(r() * 3)}`;
        rmSync(at(p), { recursive: true, force: true });
        writeFileSync(at(p), "refused");
        return `badname ${p}`;
      }
      // A Latin-1 name: not valid UTF-8.
      const name = Buffer.concat([Buffer.from(join(root, d) + "/"), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x30 + Math.floor(r() * 3)])]);
      rmSync(name, { recursive: true, force: true });
      writeFileSync(name, "latin-1");
      return `badname ${d}/caf\\xe9`;
    }
  }
  return op;
}

export interface SnapEntry {
  /** s: fifo, socket or device (never synced). */
  kind: "f" | "d" | "l" | "s";
  mode: number;
  /** File content hash, or link target. */
  data: string;
}

/** Every entry under root by its path's bytes (latin1 text), with kind, mode (all 12 bits) and content hash. */
export function snapshot(root: string): Map<string, SnapEntry> {
  const out = new Map<string, SnapEntry>();
  const walk = (abs: Buffer, rel: string) => {
    for (const n of readdirSync(abs, { encoding: "buffer" })) {
      const a = Buffer.concat([abs, Buffer.from("/"), n]);
      const p = rel ? `${rel}/${n.toString("latin1")}` : n.toString("latin1");
      const st = lstatSync(a);
      if (st.isSymbolicLink()) out.set(p, { kind: "l", mode: 0, data: readlinkSync(a, "buffer").toString("latin1") });
      else if (st.isDirectory()) {
        out.set(p, { kind: "d", mode: st.mode & 0o7777, data: "" });
        walk(a, p);
      } else if (st.isFile()) out.set(p, { kind: "f", mode: st.mode & 0o7777, data: createHash("sha256").update(readFileSync(a)).digest("hex") });
      else out.set(p, { kind: "s", mode: st.mode & 0o7777, data: "" });
    }
  };
  walk(Buffer.from(root), "");
  return out;
}

/** Whether a path (latin1 text of its bytes) has a segment a worker refuses: backslash, or bytes that are not UTF-8. */
export function refusedPath(p: string): boolean {
  if (p.includes("\\")) return true;
  return p.split("/").some((seg) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(seg, "latin1"));
      return false;
    } catch {
      return true;
    }
  });
}

/** What a worker must hold for a master tree's snapshot: no symlinks or fifos, no refused names, no setuid/setgid/sticky. */
export function synced(snap: Map<string, SnapEntry>): Map<string, SnapEntry> {
  const out = new Map<string, SnapEntry>();
  const gone: string[] = [];
  for (const [p, e] of [...snap].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (gone.some((g) => p.startsWith(`${g}/`))) continue;
    if (e.kind === "l" || e.kind === "s" || refusedPath(p)) {
      gone.push(p);
      continue;
    }
    out.set(p, { ...e, mode: e.mode & 0o777 });
  }
  return out;
}

/** The first differences between two snapshots, for a failure message. */
export function diffSnap(a: Map<string, SnapEntry>, b: Map<string, SnapEntry>, limit = 8): string[] {
  const out: string[] = [];
  for (const [p, e] of a) {
    const f = b.get(p);
    if (!f) out.push(`only in first: ${JSON.stringify(p)} ${e.kind}`);
    else if (f.kind !== e.kind || f.mode !== e.mode || f.data !== e.data)
      out.push(`differs: ${JSON.stringify(p)} ${e.kind} ${e.mode.toString(8)} ${e.data.slice(0, 8)} vs ${f.kind} ${f.mode.toString(8)} ${f.data.slice(0, 8)}`);
    if (out.length >= limit) return out;
  }
  for (const [p, e] of b) if (!a.has(p)) out.push(`only in second: ${JSON.stringify(p)} ${e.kind}`);
  return out.slice(0, limit);
}
