/**
 * RAR through falc's libarchive binding against bsdtar, on RAR 4.x archives written here (test/process/rar4.ts:
 * no free rar writer exists on this machine): seeded random entries (FALC_SEED=n replays) with ASCII and
 * Unicode names, directories, empty and large files, Unix and Windows hosts. Listings equal `bsdtar -tvf` line
 * for line, unpacked bytes equal what `bsdtar -xf` writes, and damage bsdtar refuses falc refuses too.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bsdtarLines } from "../../../test/process/bsdtar-lines.ts";
import { type RarEntry, writeRar4 } from "../../../test/process/rar4.ts";
import { seededRandom, testSeed } from "../../../test/seeded.ts";
import { listArchive, unpack } from "./libarchive.ts";

const seed = testSeed("rar differential");
const root = mkdtempSync(join(tmpdir(), "falc-rar-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function bsdtar(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["bsdtar", ...argv], { stdout: "pipe", stderr: "pipe", env: { ...process.env, TZ: "UTC", LC_ALL: "C.UTF-8" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

const NAMES = ["a.txt", "setup.exe", "grüße", "отчёт.doc", "名前", "b c", "x"];

function entries(r: () => number): RarEntry[] {
  const out: RarEntry[] = [];
  const used = new Set<string>();
  const n = 1 + Math.floor(r() * 8);
  for (let i = 0; i < n; i++) {
    const dir = r() < 0.25;
    const parent = out.filter((e) => !e.data)[Math.floor(r() * 3)]?.name;
    const name = `${parent && r() < 0.6 ? `${parent}/` : ""}${NAMES[Math.floor(r() * NAMES.length)]}${i}`;
    if (used.has(name)) continue;
    used.add(name);
    const size = r() < 0.15 ? 0 : Math.floor(r() * (r() < 0.3 ? 200_000 : 3000));
    const mtime = 631152000 + 2 * Math.floor(r() * 600_000_000); // 1990..2027, even seconds (DOS time)
    out.push({ name, mtime, host: r() < 0.5 ? "unix" : "windows", data: dir ? undefined : Uint8Array.from({ length: size }, () => Math.floor(r() * 256)) });
  }
  return out;
}

describe("rar 4 (stored) against bsdtar", () => {
  test("random archives: listings equal `bsdtar -tvf`, bytes equal `bsdtar -xf`", async () => {
    const r = seededRandom(seed);
    let files = 0;
    for (let i = 0; i < 12; i++) {
      const es = entries(r);
      const path = join(root, `r${i}.rar`);
      writeFileSync(path, writeRar4(es));
      const ref = await bsdtar(["-tvf", path]);
      expect(ref.code).toBe(0);
      const listing = listArchive({ path });
      expect(listing.format).toMatch(/^RAR/);
      expect({ archive: i, error: listing.error, lines: bsdtarLines(listing.entries) }).toEqual({ archive: i, error: undefined, lines: ref.out.split("\n").filter(Boolean) });
      const out = join(root, `x${i}`);
      mkdirSync(out);
      expect((await bsdtar(["-xf", path, "-C", out])).code).toBe(0);
      const u = unpack({ bytes: readFileSync(path) }, { passwords: [] });
      expect(u.error).toBeUndefined();
      for (const e of u.entries) {
        if (e.type !== "file") continue;
        expect({ name: e.name, sha: Bun.hash(e.data!) }).toEqual({ name: e.name, sha: Bun.hash(readFileSync(join(out, e.name))) });
        files++;
      }
      // And both equal what was packed.
      expect(u.entries.filter((e) => e.type === "file").map((e) => [e.name, e.data!.length])).toEqual(es.filter((e) => e.data).map((e) => [e.name, e.data!.length]));
    }
    expect(files).toBeGreaterThan(15);
  });

  test("damage: a flipped header byte fails the header CRC in bsdtar and in falc; a flipped data byte passes both alike", async () => {
    const data = new Uint8Array(5000).fill(0x41);
    const good = writeRar4([{ name: "a.bin", data, mtime: 1700000000, host: "unix" }, { name: "b.bin", data, mtime: 1700000000, host: "unix" }]);
    const headFlip = good.slice();
    headFlip[7 + 13 + 32 + 5000 + 10]! ^= 1; // inside b.bin's header (after the marker, the main header, a.bin's header and data)
    const hp = join(root, "bad-head.rar");
    writeFileSync(hp, headFlip);
    mkdirSync(join(root, "bad-head"));
    const ref = await bsdtar(["-xf", hp, "-C", join(root, "bad-head")]);
    expect(ref.code).not.toBe(0);
    expect(ref.err).toContain("Header CRC error");
    const u = unpack({ bytes: headFlip }, { passwords: [] });
    expect(u.error).toBe("Header CRC error");
    expect(u.entries.map((e) => [e.name, e.data?.length])).toEqual([["a.bin", 5000]]);
    // libarchive does not check a stored entry's CRC32: bsdtar extracts the changed bytes, and so does falc.
    const dataFlip = good.slice();
    dataFlip[7 + 13 + 32 + 100]! ^= 1;
    const dp = join(root, "bad-data.rar");
    writeFileSync(dp, dataFlip);
    mkdirSync(join(root, "bad-data"));
    expect((await bsdtar(["-xf", dp, "-C", join(root, "bad-data")])).code).toBe(0);
    const d = unpack({ bytes: dataFlip }, { passwords: [] });
    expect(d.error).toBeUndefined();
    expect(Buffer.from(d.entries[0]!.data!).equals(readFileSync(join(root, "bad-data", "a.bin")))).toBe(true);
  });
});
