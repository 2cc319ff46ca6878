/**
 * Differential test: fixtures/process/yara/corpus.yar (every feature of YARA 4.2's documentation) run by
 * the `yara` program (`yara -s -r -p 1`) and by falc's libyara binding, over generated files (seeded: the
 * seed is printed, FALC_SEED=n replays it), real files of this machine and built PE/ELF samples. Rule/file
 * matches, string identifiers, offsets and data, and console output must be identical.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Samples, run, sampleDir, samples } from "../../../test/process/samples.ts";
import { type ScanResult, Yara, YaraCompileError, yaraPrintable } from "./libyara.ts";
import { seededRandom, testSeed } from "../../../test/seeded.ts";

const CORPUS = join(import.meta.dir, "../../../fixtures/process/yara/corpus.yar");
const seed = testSeed("libyara differential");


const STD64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const ALPHABET = "!@#$%^&*(){}[].,|ABCDEFGHIJ\x09LMNOPQRSTUVWXYZabcdefghijklmnopqrstu";

/** A file made of random bytes and the things the corpus looks for, in random order and amounts. */
function generated(r: () => number, n: number): Uint8Array {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
  const key = 1 + Math.floor(r() * 255);
  const xor = (s: string) => Buffer.from([...Buffer.from(s)].map((b) => b ^ key));
  const pieces: (() => Buffer)[] = [
    () => Buffer.from("needle"),
    () => Buffer.from(pick(["NeEdLe", "NEEDLE", "neeeedle", "ne\ndle"])),
    () => Buffer.from("needle", "utf16le"),
    () => Buffer.from(pick(["hay", "stack", "zzz", "tab\there\x41\"q\\"])),
    () => Buffer.from(pick([" cmd ", "cmd.exe", "xcmdx", "_cmd_", " word_ ", " word "])),
    () => xor("secret"),
    () => xor(Buffer.from("secret", "utf16le").toString("latin1")),
    () => Buffer.from(Buffer.from(pick(["", "x", "xy"]) + "This program").toString("base64")),
    () => Buffer.from(Buffer.from(Buffer.from("ab" + "This program").toString("base64")).toString("latin1"), "utf16le"),
    () => Buffer.from(
      [...Buffer.from(`${pick(["", "q", "qq"])}This program`).toString("base64")].map((c) => ALPHABET[STD64.indexOf(c)] ?? "").join(""),
      "latin1",
    ),
    () => Buffer.from("A".repeat(1 + Math.floor(r() * 9))),
    () => Buffer.from(`%PDF-1.4${"x".repeat(Math.floor(r() * 9000))}%%EOF`),
    () => Buffer.from(pick(["http://a.example.com", "ftps://b.c", "gate.php?id=42", "123-abcdef ", "999-zz"])),
    () => Buffer.from(Array.from({ length: Math.floor(r() * 3000) }, () => Math.floor(r() * 256))),
    () => Buffer.alloc(Math.floor(r() * 2000)),
  ];
  const parts: Buffer[] = [];
  if (n % 7 === 3) parts.push(Buffer.alloc(100, 0x78), Buffer.from("needle")); // `$a at 100`
  else if (r() < 0.3) parts.push(Buffer.from(pick(["MZ", "\x7fELF", "\xff\xfe", "[["]), "latin1"));
  const count = n % 10 === 0 ? 0 : Math.floor(r() * 25);
  for (let i = 0; i < count; i++) parts.push(pick(pieces)());
  return new Uint8Array(Buffer.concat(parts));
}

interface Hit {
  rule: string;
  strings: string[];
}

/** yara -s output: per file, its rules in order with their `0xOFF:$id: data` lines, and console lines. */
function parseYara(out: string, ruleNames: Set<string>): Map<string, { hits: Hit[]; console: string[] }> {
  const files = new Map<string, { hits: Hit[]; console: string[] }>();
  let pending: string[] = [];
  let cur: Hit | undefined;
  for (const line of out.split("\n")) {
    if (!line) continue;
    const sp = line.indexOf(" ");
    const rule = line.slice(0, sp);
    if (sp > 0 && ruleNames.has(rule) && !line.startsWith("0x")) {
      const file = line.slice(sp + 1);
      const f = files.get(file) ?? { hits: [], console: [] };
      f.console.push(...pending);
      pending = [];
      cur = { rule, strings: [] };
      f.hits.push(cur);
      files.set(file, f);
    } else if (/^0x[0-9a-f]+:\$/.test(line) && cur) cur.strings.push(line);
    else pending.push(line);
  }
  return files;
}

function ours(res: ScanResult): { hits: Hit[]; console: string[] } {
  return {
    hits: res.matches.map((m) => ({ rule: m.rule, strings: m.strings.map((s) => `0x${s.offset.toString(16)}:${s.id}: ${s.data}`) })),
    console: res.console,
  };
}

let dir: string;
let s: Samples;
let yara: Yara;
let ruleNames: Set<string>;

beforeAll(async () => {
  s = await samples();
  dir = join(sampleDir(), "yara-diff");
  mkdirSync(dir, { recursive: true });
  const r = seededRandom(seed);
  for (let i = 0; i < 150; i++) writeFileSync(join(dir, `gen${i}.bin`), generated(r, i));
  // Real files: every 25th program of /usr/bin and a few shared libraries, and the built PE/ELF samples.
  const bins = readdirSync("/usr/bin").sort().filter((n) => statSync(join("/usr/bin", n)).isFile());
  bins.filter((_, i) => i % 25 === 0).forEach((n) => symlinkSync(join("/usr/bin", n), join(dir, `bin-${n}`)));
  for (const lib of ["libc.so.6", "libyara.so.9", "libmagic.so.1"]) symlinkSync(join("/usr/lib/x86_64-linux-gnu", lib), join(dir, `lib-${lib}`));
  for (const p of [s.elf, s.elfSo, s.pe64, s.pe32, s.dll, s.peOrdinals]) {
    expect(p).toBeDefined();
    writeFileSync(join(dir, `sample-${p!.split("/").pop()}`), readFileSync(p!));
  }
  yara = Yara.compile([{ file: CORPUS, strict: true }]);
  ruleNames = new Set([...readFileSync(CORPUS, "utf8").matchAll(/^(?:private |global )*rule (\w+)/gm)].map((m) => m[1]!));
}, 120_000);

describe("libyara against the yara program", () => {
  test("every corpus rule compiles and the corpus covers modules, iterators and every string kind", () => {
    expect(yara.disabled).toEqual([]);
    expect(ruleNames.size).toBeGreaterThan(60);
  });

  test("identical rule/file matches, strings, offsets, data and console output (scanFile and scanBytes)", async () => {
    // One `yara` run per file (rules compiled once by yarac): `yara -r` reuses one scanner, and libyara 4.2
    // carries a scanner's entry point over to the next file, so a directory scan is not a clean reference.
    const compiled = join(dir, "..", "corpus.yarc");
    await run(["yarac", "-w", CORPUS, compiled]);
    const names = readdirSync(dir).sort();
    const ref = new Map<string, { hits: Hit[]; console: string[] }>();
    const queue = [...names];
    await Promise.all(
      [0, 1].map(async () => {
        for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
          const path = join(dir, n);
          ref.set(n, parseYara(await run(["yara", "-C", "-w", "-s", compiled, path]), ruleNames).get(path) ?? { hits: [], console: [] });
        }
      }),
    );
    let hits = 0;
    for (const name of names) {
      const path = join(dir, name);
      const want = ref.get(name)!;
      expect({ file: name, ...ours(yara.scanFile(path)) }).toEqual({ file: name, ...want });
      expect({ file: name, ...ours(yara.scanBytes(readFileSync(path))) }).toEqual({ file: name, ...want });
      hits += want.hits.length;
    }
    expect(names.length).toBeGreaterThan(200);
    // The files must exercise the corpus: every rule matches somewhere (priv_mz is private, never reported).
    const matched = new Set([...ref.values()].flatMap((f) => f.hits.map((h) => h.rule)));
    expect([...ruleNames].filter((n) => !matched.has(n) && n !== "priv_mz")).toEqual([]);
    expect(hits).toBeGreaterThan(1000);
  }, 300_000);

  test("a rule file that does not compile names file:line; a non-strict one is left out, the others stay", () => {
    const bad = join(dir, "..", "bad.yar");
    writeFileSync(bad, 'rule ok1 { condition: true }\nrule broken {\n  strings: $a = "x"\n  condition: $a and\n}\n');
    expect(() => Yara.compile([{ file: bad, strict: true }])).toThrow(`${bad}:5: syntax error`);
    const y = Yara.compile([{ file: bad }, { file: "inline", text: "rule fine { condition: filesize == 3 }" }]);
    expect(y.disabled.map((d) => d.message)).toEqual([`${bad}:5: syntax error`]);
    expect(y.disabled[0]).toBeInstanceOf(YaraCompileError);
    expect(y.scanBytes(new Uint8Array(3)).matches.map((m) => m.rule)).toEqual(["fine"]);
    y.close();
  });

  test("match data is printed as yara -s prints it", () => {
    expect(yaraPrintable(Uint8Array.from([0x41, 0x09, 0x7f]), false)).toBe("A\\x09\\x7F");
    expect(yaraPrintable(new Uint8Array(65).fill(0xab), true)).toBe(`${Array(64).fill("AB").join(" ")} ...`);
  });
});
