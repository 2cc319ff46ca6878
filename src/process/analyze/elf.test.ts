import { beforeAll, describe, expect, test } from "bun:test";
import { FormatError } from "./bytes.ts";
import { parseElf } from "./elf.ts";
import { type Samples, run, samples } from "../../../test/process/samples.ts";

let s: Samples;
beforeAll(async () => {
  s = await samples();
}, 60000);


async function readelfFacts(path: string) {
  const h = await run(["readelf", "-h", "-W", path]);
  const S = await run(["readelf", "-S", "-W", path]);
  const l = await run(["readelf", "-l", "-W", path]);
  const d = await run(["readelf", "-d", "-W", path]);
  const syms = await run(["readelf", "-s", "-W", path]);
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s+(.*)$`, "m").exec(h)![1]!.trim();
  const sections = [...S.matchAll(/^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/gm)]
    .filter((m) => m[1] !== "0")
    .map((m) => ({ name: m[2]!, type: m[3]!, addr: BigInt("0x" + m[4]!), off: parseInt(m[5]!, 16), size: parseInt(m[6]!, 16) }));
  // readelf shows .dynsym names with their version from .gnu.version; .symtab names carry "@VER" literally.
  const table = (name: string) => {
    const part = syms.split(`Symbol table '${name}'`)[1]?.split("Symbol table")[0] ?? "";
    return [...part.matchAll(/^[ \t]*\d+:[ \t]+[0-9a-f]+[ \t]+\d+[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]*(\S*)/gm)].map((m) => (name === ".dynsym" ? m[1]!.replace(/@.*$/, "") : m[1]!)).slice(1); // entry 0 is the null symbol
  };
  return {
    class: field("Class"),
    type: field("Type").split(" ")[0],
    machine: field("Machine"),
    entry: BigInt(field("Entry point address")),
    sections,
    interp: /Requesting program interpreter: ([^\]]+)\]/.exec(l)?.[1] ?? null,
    needed: [...d.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!),
    soname: /\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(d)?.[1] ?? null,
    symtab: table(".symtab"),
    dynsym: table(".dynsym"),
  };
}

describe("ELF static analysis", () => {
  for (const key of ["elf", "elfSo"] as const) {
    test(`${key}: header, sections, interpreter, needed, symbols match readelf`, async () => {
      const path = s[key];
      if (!path) throw new Error(`sample ${key} was not built`);
      const info = parseElf(await Bun.file(path).bytes());
      const ref = await readelfFacts(path);
      expect(info.elf_header.class).toBe(ref.class as "ELF64");
      expect(info.elf_header.type).toBe(ref.type!);
      expect(info.elf_header.machine).toBe(ref.machine);
      expect(info.elf_header.endianness).toBe("little");
      expect(BigInt(info.elf_header.entry_point)).toBe(ref.entry);
      expect(info.elf_sections.slice(1).map((x) => x.name)).toEqual(ref.sections.map((x) => x.name));
      info.elf_sections.slice(1).forEach((sec, i) => {
        const r = ref.sections[i]!;
        expect(sec.type).toBe(r.type);
        expect(BigInt(sec.address)).toBe(r.addr);
        expect(parseInt(sec.offset, 16)).toBe(r.off);
        expect(sec.size).toBe(r.size);
      });
      expect(info.elf_interpreter).toBe(ref.interp);
      expect(info.elf_needed).toEqual(ref.needed);
      expect(info.elf_soname).toBe(ref.soname);
      expect(info.elf_symbols.map((x) => x.name)).toEqual(ref.symtab);
      expect(info.elf_dynamic_symbols.map((x) => x.name)).toEqual(ref.dynsym);
      expect(info.elf_exports).toContain("falc_export");
      expect(info.elf_imports).toContain("printf");
      expect(info.stripped).toBe(false);
      const text = info.elf_sections.find((x) => x.name === ".text")!;
      expect(text.flags).toBe("AX");
      expect(text.entropy).toBeGreaterThan(3);
    });
  }

  test("a system binary parses within bounds", async () => {
    const path = "/usr/bin/ls";
    const info = parseElf(await Bun.file(path).bytes());
    expect(info.elf_needed).toContain("libc.so.6");
    expect(info.elf_dynamic_symbols_total).toBeGreaterThan(10);
  });

  test("truncation and garbage: FormatError or partial data with warnings", async () => {
    expect(() => parseElf(new Uint8Array(16))).toThrow(FormatError);
    expect(s.elf).toBeDefined();
    const buf = await Bun.file(s.elf!).bytes();
    for (const cut of [52, 64, 200, 1000, buf.length >> 1, buf.length - 100]) {
      try {
        const info = parseElf(buf.subarray(0, cut));
        expect(info.elf_header.class).toBe("ELF64");
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
      }
    }
    // Section header count beyond reason is capped.
    const evil = Uint8Array.from(buf);
    new DataView(evil.buffer).setUint16(60, 0xfff0, true);
    const info = parseElf(evil);
    expect(info.warnings.length).toBeGreaterThan(0);
  });
});
