/**
 * libarchive through falc against `bsdtar -tvf` (libarchive-tools): random trees (seeded; FALC_SEED=n
 * replays) packed by bsdtar and 7zz in every format they write here, listed by both: identical lines.
 * Unpacked data equals the files packed. Then passwords (traditional and AES zip), the guards, links.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, sampleDir, writeZip } from "../../../test/process/samples.ts";
import { ArchiveError, DEFAULT_UNPACK_LIMITS, extractByName, listArchive, unpack } from "./libarchive.ts";
import { seededRandom, testSeed } from "../../../test/seeded.ts";
import { bsdtarLines } from "../../../test/process/bsdtar-lines.ts";

const seed = testSeed("libarchive differential");
let dir: string;


/** A random tree: nested dirs, names with spaces and UTF-8, empty and random files, a symlink. */
function tree(root: string, r: () => number): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const names = ["a", "b c", "grüße", "x.exe", "readme.txt", "дата", "z-1", "deep"];
  const pick = () => names[Math.floor(r() * names.length)]! + Math.floor(r() * 100);
  const make = (d: string, depth: number) => {
    mkdirSync(join(root, d), { recursive: true });
    const n = 1 + Math.floor(r() * 4);
    for (let i = 0; i < n; i++) {
      const rel = join(d, pick());
      if (files.has(rel)) continue;
      if (depth < 2 && r() < 0.3) make(rel, depth + 1);
      else {
        const size = r() < 0.2 ? 0 : Math.floor(r() * 70_000);
        const data = r() < 0.5 ? Buffer.alloc(size, "falc ") : Buffer.from(Array.from({ length: size }, () => Math.floor(r() * 256)));
        writeFileSync(join(root, rel), data);
        files.set(rel, data);
      }
    }
  };
  make("t", 0);
  const plain = Buffer.from(Array.from({ length: 3000 }, () => Math.floor(r() * 256)));
  writeFileSync(join(root, "t/plain.bin"), plain);
  files.set("t/plain.bin", plain);
  symlinkSync("../t", join(root, "t", "up-link"));
  return files;
}

let files: Map<string, Buffer>;
const archives: { name: string; path: string; symlinks: boolean }[] = [];

beforeAll(async () => {
  dir = join(sampleDir(), "libarchive");
  mkdirSync(dir, { recursive: true });
  files = tree(dir, seededRandom(seed));
  const bsdtar: [string, string[]][] = [
    ["ustar.tar", ["--format", "ustar"]],
    ["pax.tar.gz", ["--format", "pax", "-z"]],
    ["gnu.tar.bz2", ["--format", "gnutar", "-j"]],
    ["v7.tar.xz", ["--format", "v7tar", "-J"]],
    ["pax.tar.zst", ["--format", "pax", "--zstd"]],
    ["pax.tar.lz4", ["--format", "pax", "--lz4"]],
    ["pax.tar.lzma", ["--format", "pax", "--lzma"]],
    ["odc.cpio", ["--format", "cpio"]],
    ["newc.cpio.gz", ["--format", "newc", "-z"]],
    ["image.iso", ["--format", "iso9660"]],
    ["bsdtar.zip", ["--format", "zip"]],
    ["bsdtar.7z", ["--format", "7zip"]],
    ["x.xar", ["--format", "xar"]],
  ];
  for (const [name, opts] of bsdtar) {
    await runUtc(["bsdtar", "-cf", join(dir, name), ...opts, "-C", dir, "t"]);
    archives.push({ name, path: join(dir, name), symlinks: !name.endsWith(".7z") });
  }
  // ar holds plain files only (a .deb is one): the regular files of the tree's top directory.
  const top = [...files.keys()].filter((f) => f.split("/").length === 2 && !f.includes(" "));
  await runUtc(["bsdtar", "-cf", join(dir, "x.a"), "--format", "ar", "-C", join(dir, "t"), ...top.map((f) => f.slice(2))]);
  archives.push({ name: "x.a", path: join(dir, "x.a"), symlinks: false });
  // cab (gcab, MSZIP) holds the same plain files.
  await runUtc(["gcab", "-c", "-z", join(dir, "x.cab"), ...top.map((f) => f.slice(2))], join(dir, "t"));
  archives.push({ name: "x.cab", path: join(dir, "x.cab"), symlinks: false });
  for (const [name, opts] of [["7zz.7z", ["-t7z"]], ["7zz.zip", ["-tzip"]], ["7zz.tar", ["-ttar"]]] as const) {
    await runUtc(["7zz", "a", ...opts, "-snl", join(dir, name), "t"], dir);
    archives.push({ name, path: join(dir, name), symlinks: true });
  }
}, 120_000);

describe("libarchive against bsdtar", () => {
  test("listings equal `bsdtar -tvf` line for line, in every format written here", async () => {
    expect(archives.length).toBeGreaterThanOrEqual(18);
    for (const a of archives) {
      const ref = (await runUtc(["bsdtar", "-tvf", a.path])).split("\n").filter(Boolean);
      const listing = listArchive({ path: a.path });
      expect({ archive: a.name, error: listing.error, lines: bsdtarLines(listing.entries) }).toEqual({ archive: a.name, error: undefined, lines: ref });
      // From memory too (nested archives are read that way).
      expect(listArchive({ bytes: readFileSync(a.path) }).entries.map((e) => e.name)).toEqual(listing.entries.map((e) => e.name));
    }
  }, 60_000);

  test("unpacked data equals the packed files; links are listed, never followed", () => {
    for (const a of archives) {
      const u = unpack({ path: a.path }, { passwords: [] });
      expect({ archive: a.name, error: u.error }).toEqual({ archive: a.name, error: undefined });
      let checked = 0;
      for (const e of u.entries) {
        const rel = a.name === "x.a" || a.name === "x.cab" ? `t/${e.name}` : e.name.replace(/^\.\//, "");
        if (e.type === "file") {
          expect({ archive: a.name, name: e.name, data: e.data && Buffer.compare(Buffer.from(e.data), files.get(rel)!) }).toEqual({ archive: a.name, name: e.name, data: 0 });
          checked++;
        }
        if (e.type === "symlink") {
          expect(e.data).toBeUndefined();
          expect(e.error).toBe("symlink to ../t: links are listed, not followed");
        }
      }
      expect(checked).toBeGreaterThan(0);
      if (a.symlinks) expect(u.entries.some((e) => e.type === "symlink")).toBe(true);
    }
  }, 60_000);

  test("zip passwords: traditional (zip -P, 7zz ZipCrypto) and AES-256, the opening password recorded", async () => {
    const p = join(dir, "t", "payload.bin");
    writeFileSync(p, Buffer.alloc(100_000, "MZ payload "));
    await run(["zip", "-j", "-P", "s3cr3t", join(dir, "zc.zip"), p]);
    await run(["7zz", "a", "-tzip", "-mem=AES256", "-pAesPass", join(dir, "aes.zip"), p]);
    await run(["7zz", "a", "-tzip", "-mem=ZipCrypto", "-pinfected", join(dir, "zc7.zip"), p]);
    for (const [name, pw] of [["zc.zip", "s3cr3t"], ["aes.zip", "AesPass"], ["zc7.zip", "infected"]]) {
      const path = join(dir, name!);
      const locked = unpack({ path }, { passwords: [] });
      expect(locked.entries[0]).toMatchObject({ name: "payload.bin", encrypted: true, error: "payload.bin: encrypted; no password given" });
      const wrong = unpack({ path }, { passwords: ["nope", "wrong"] });
      expect(wrong.entries[0]!.error).toBe("payload.bin: encrypted; none of the 2 password(s) opens it");
      const ok = unpack({ path }, { passwords: ["nope", pw!, "other"] });
      expect(ok.entries[0]).toMatchObject({ name: "payload.bin", password: pw });
      expect(Buffer.from(ok.entries[0]!.data!).equals(readFileSync(p))).toBe(true);
      expect(Buffer.from(extractByName({ bytes: readFileSync(path) }, "payload.bin", ["nope", pw!])).equals(readFileSync(p))).toBe(true);
    }
  });

  test("guards: ratio (while decompressing), entry size, total budget over calls, entry count; damage is an error, not a crash", async () => {
    const zeros = join(dir, "zeros.bin");
    writeFileSync(zeros, new Uint8Array(64 * 1024 * 1024));
    await run(["bsdtar", "-cJf", join(dir, "bomb.tar.xz"), "-C", dir, "zeros.bin"]);
    const bomb = unpack({ path: join(dir, "bomb.tar.xz") }, { passwords: [] });
    expect(bomb.error).toMatch(/^zeros\.bin: compression ratio \d+:1 is over the limit of 250:1 \(archive bomb\?\)$/);
    expect(bomb.entries[0]!.data).toBeUndefined();
    const z = writeZip([{ name: "a", data: "a".repeat(600) }, { name: "b", data: "b".repeat(600) }]);
    const limits = { ...DEFAULT_UNPACK_LIMITS, maxEntrySize: 500 };
    expect(unpack({ bytes: z }, { passwords: [], limits }).error).toBe("a: over the entry size limit of 500 bytes");
    const budget = { used: 0 };
    const total = { ...DEFAULT_UNPACK_LIMITS, maxTotalSize: 1000 };
    const two = unpack({ bytes: z }, { passwords: [], limits: total, budget });
    expect(two.entries.map((e) => e.data?.length)).toEqual([600, undefined]);
    expect(two.error).toBe("b: total unpacked size would exceed the limit of 1000 bytes");
    const many = writeZip(Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, data: "x", method: 0 as const })));
    const m = unpack({ bytes: many }, { passwords: [], limits: { ...DEFAULT_UNPACK_LIMITS, maxEntries: 20 } });
    expect(m.entries).toHaveLength(20);
    expect(m.error).toBe("more than 20 entries: the rest is not unpacked");
    // Damage: an error (thrown when nothing can be opened, else beside the entries read before it).
    const cut = readFileSync(join(dir, "pax.tar.gz"));
    for (const n of [0.05, 0.3, 0.6, 0.9].map((f) => Math.floor(cut.length * f))) {
      let msg: string | undefined;
      try {
        msg = unpack({ bytes: cut.subarray(0, n) }, { passwords: [] }).error;
      } catch (e) {
        expect(e).toBeInstanceOf(ArchiveError);
        msg = (e as Error).message;
      }
      expect(msg).toBeDefined();
    }
    expect(() => unpack({ bytes: new TextEncoder().encode("just text, no archive") }, { passwords: [] })).toThrow("not an archive libarchive reads");
  }, 120_000);

  test("a lone compressed stream is one entry; an entry named ../../x is data, not a path", async () => {
    // Plain text inside: libarchive's mtree reader would take it for a file list; falc does not use it.
    const p = join(dir, "lone.txt");
    writeFileSync(p, "alone\n");
    await run(["gzip", "-kf", p]);
    const u = unpack({ path: `${p}.gz` }, { passwords: [], rawName: "lone.txt" });
    expect(u.entries.map((e) => [e.name, Buffer.from(e.data!).toString()])).toEqual([["lone.txt", "alone\n"]]);
    const evil = writeZip([{ name: "../../evil.sh", data: "#!/bin/sh\n" }, { name: "/etc/x", data: "y" }]);
    expect(unpack({ bytes: evil }, { passwords: [] }).entries.map((e) => e.name)).toEqual(["../../evil.sh", "/etc/x"]);
  });
});

/** Archives are made and listed in a UTF-8 locale, so names are stored and printed as they are. */
async function runUtc(argv: string[], cwd?: string): Promise<string> {
  const p = Bun.spawn(argv, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, TZ: "UTC", LC_ALL: "C.UTF-8" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err}`);
  return out;
}

