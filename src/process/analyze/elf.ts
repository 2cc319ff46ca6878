/**
 * ELF static analysis: header (class, endianness, type, machine, entry), sections with entropy, program
 * headers, interpreter, needed libraries (DT_NEEDED), and symbols from .symtab and .dynsym.
 * Names follow readelf so the tests can compare against it. Symbol lists are capped; counts are not.
 */
import { FormatError, View, entropy, round } from "./bytes.ts";

export const ELF_MACHINES: Record<number, string> = {
  0: "None", 2: "Sparc", 3: "Intel 80386", 8: "MIPS R3000", 20: "PowerPC", 21: "PowerPC64", 22: "IBM S/390", 40: "ARM",
  42: "Renesas / SuperH SH", 43: "Sparc v9", 50: "Intel IA-64", 62: "Advanced Micro Devices X86-64", 183: "AArch64",
  243: "RISC-V", 247: "Linux BPF", 258: "LoongArch",
};
const ELF_TYPES: Record<number, string> = { 0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE" };
const OSABI: Record<number, string> = { 0: "UNIX - System V", 3: "UNIX - GNU", 6: "UNIX - Solaris", 9: "UNIX - FreeBSD", 12: "UNIX - OpenBSD" };
const SH_TYPES: Record<number, string> = {
  0: "NULL", 1: "PROGBITS", 2: "SYMTAB", 3: "STRTAB", 4: "RELA", 5: "HASH", 6: "DYNAMIC", 7: "NOTE", 8: "NOBITS", 9: "REL",
  11: "DYNSYM", 14: "INIT_ARRAY", 15: "FINI_ARRAY", 16: "PREINIT_ARRAY", 17: "GROUP", 18: "SYMTAB_SHNDX",
  0x6ffffff6: "GNU_HASH", 0x6ffffffd: "VERDEF", 0x6ffffffe: "VERNEED", 0x6fffffff: "VERSYM", 0x6ffffff5: "GNU_ATTRIBUTES",
};
const PT_TYPES: Record<number, string> = {
  0: "NULL", 1: "LOAD", 2: "DYNAMIC", 3: "INTERP", 4: "NOTE", 5: "SHLIB", 6: "PHDR", 7: "TLS",
  0x6474e550: "GNU_EH_FRAME", 0x6474e551: "GNU_STACK", 0x6474e552: "GNU_RELRO", 0x6474e553: "GNU_PROPERTY",
};
const SYM_TYPES = ["NOTYPE", "OBJECT", "FUNC", "SECTION", "FILE", "COMMON", "TLS"];
const SYM_BINDS = ["LOCAL", "GLOBAL", "WEAK"];
const SYM_VIS = ["DEFAULT", "INTERNAL", "HIDDEN", "PROTECTED"];

export interface ElfSection {
  name: string;
  type: string;
  address: string;
  offset: string;
  size: number;
  flags: string;
  entropy: number;
}
export interface ElfSegment {
  type: string;
  offset: string;
  vaddr: string;
  filesz: number;
  memsz: number;
  flags: string;
}
export interface ElfSymbol {
  name: string;
  value: string;
  size: number;
  type: string;
  bind: string;
  visibility: string;
  /** Section index, "UND" for undefined (imported), "ABS", "COM". */
  section: string;
}

export interface ElfInfo {
  elf_header: {
    class: "ELF32" | "ELF64";
    endianness: "little" | "big";
    osabi: string;
    type: string;
    machine: string;
    entry_point: string;
    flags: string;
    number_of_sections: number;
    number_of_segments: number;
  };
  elf_sections: ElfSection[];
  elf_segments: ElfSegment[];
  elf_interpreter: string | null;
  elf_needed: string[];
  elf_soname: string | null;
  elf_runpath: string | null;
  /** .symtab (static linking symbols); empty when stripped. */
  elf_symbols: ElfSymbol[];
  elf_symbols_total: number;
  /** .dynsym: what the file imports (section UND) and exports (defined, global or weak). */
  elf_dynamic_symbols: ElfSymbol[];
  elf_dynamic_symbols_total: number;
  elf_imports: string[];
  elf_exports: string[];
  stripped: boolean;
  warnings: string[];
}

const MAX_SECTIONS = 4096;
const MAX_SEGMENTS = 1024;
/** Symbols kept per table; counts are reported in full. */
export const MAX_SYMBOLS = 2000;
/** Symbols parsed per table at most (a huge library stays linear and bounded). */
const MAX_SYMBOL_SCAN = 500_000;

function hex(n: number): string {
  return "0x" + n.toString(16);
}

function shFlags(f: number): string {
  let s = "";
  if (f & 1) s += "W";
  if (f & 2) s += "A";
  if (f & 4) s += "X";
  if (f & 0x10) s += "M";
  if (f & 0x20) s += "S";
  if (f & 0x40) s += "I";
  if (f & 0x400) s += "T";
  return s;
}

export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 52 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

export function parseElf(buf: Uint8Array): ElfInfo {
  if (!isElf(buf)) throw new FormatError("not an ELF file");
  const cls = buf[4];
  if (cls !== 1 && cls !== 2) throw new FormatError(`ELF class ${cls} is invalid`);
  const is64 = cls === 2;
  const le = buf[5] !== 2;
  const v = new View(buf, le);
  const warnings: string[] = [];
  const addr = (o: number) => (is64 ? v.u64(o) : v.u32(o));
  const type = v.u16(16);
  const machine = v.u16(18);
  const entry = is64 ? v.u64hex(24) : hex(v.u32(24));
  const phoff = addr(is64 ? 32 : 28);
  const shoff = addr(is64 ? 40 : 32);
  const eflags = v.u32(is64 ? 48 : 36);
  const phentsize = v.u16(is64 ? 54 : 42);
  let phnum = v.u16(is64 ? 56 : 44);
  const shentsize = v.u16(is64 ? 58 : 46);
  let shnum = v.u16(is64 ? 60 : 48);
  let shstrndx = v.u16(is64 ? 62 : 50);

  // Section headers (shnum/shstrndx may overflow into section 0).
  interface Sh { nameOff: number; type: number; flags: number; addr: number; offset: number; size: number; link: number; entsize: number }
  const shs: Sh[] = [];
  const readSh = (i: number): Sh | undefined => {
    const o = shoff + i * shentsize;
    if (!v.has(o, is64 ? 64 : 40)) return undefined;
    return is64
      ? { nameOff: v.u32(o), type: v.u32(o + 4), flags: v.u64(o + 8), addr: v.u64(o + 16), offset: v.u64(o + 24), size: v.u64(o + 32), link: v.u32(o + 40), entsize: v.u64(o + 56) }
      : { nameOff: v.u32(o), type: v.u32(o + 4), flags: v.u32(o + 8), addr: v.u32(o + 12), offset: v.u32(o + 16), size: v.u32(o + 20), link: v.u32(o + 24), entsize: v.u32(o + 36) };
  };
  if (shoff && shentsize >= (is64 ? 64 : 40)) {
    const s0 = readSh(0);
    if (s0 && shnum === 0) shnum = s0.size;
    if (s0 && shstrndx === 0xffff) shstrndx = s0.link;
    if (shnum > MAX_SECTIONS) {
      warnings.push(`${shnum} sections; only the first ${MAX_SECTIONS} read`);
      shnum = MAX_SECTIONS;
    }
    for (let i = 0; i < shnum; i++) {
      const sh = readSh(i);
      if (!sh) {
        warnings.push(`section headers truncated after ${i}`);
        break;
      }
      shs.push(sh);
    }
  }
  const shstr = shs[shstrndx];
  const secName = (sh: Sh) => (shstr && v.has(shstr.offset, 1) ? v.cstr(shstr.offset + sh.nameOff, 256) : "");
  const sections: ElfSection[] = shs.map((sh) => ({
    name: secName(sh),
    type: SH_TYPES[sh.type] ?? hex(sh.type),
    address: hex(sh.addr),
    offset: hex(sh.offset),
    size: sh.size,
    flags: shFlags(sh.flags),
    entropy: sh.type === 8 || sh.type === 0 ? 0 : round(entropy(buf, sh.offset, sh.offset + sh.size), 4),
  }));

  // Program headers.
  interface Ph { type: number; offset: number; vaddr: number; filesz: number; memsz: number; flags: number }
  const phs: Ph[] = [];
  if (phnum > MAX_SEGMENTS) phnum = MAX_SEGMENTS;
  for (let i = 0; phoff && i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (!v.has(o, is64 ? 56 : 32)) break;
    phs.push(
      is64
        ? { type: v.u32(o), flags: v.u32(o + 4), offset: v.u64(o + 8), vaddr: v.u64(o + 16), filesz: v.u64(o + 32), memsz: v.u64(o + 40) }
        : { type: v.u32(o), offset: v.u32(o + 4), vaddr: v.u32(o + 8), filesz: v.u32(o + 16), memsz: v.u32(o + 20), flags: v.u32(o + 24) },
    );
  }
  const segments: ElfSegment[] = phs.map((p) => ({
    type: PT_TYPES[p.type] ?? hex(p.type),
    offset: hex(p.offset),
    vaddr: hex(p.vaddr),
    filesz: p.filesz,
    memsz: p.memsz,
    flags: `${p.flags & 4 ? "R" : " "}${p.flags & 2 ? "W" : " "}${p.flags & 1 ? "E" : " "}`,
  }));
  const interpPh = phs.find((p) => p.type === 3);
  const interpreter = interpPh ? v.cstr(interpPh.offset, Math.min(interpPh.filesz, 4096)) : null;

  // Address -> file offset through the LOAD segments (for DT_STRTAB when there are no section headers).
  const vaToOff = (va: number): number => {
    for (const p of phs) if (p.type === 1 && va >= p.vaddr && va < p.vaddr + p.filesz) return va - p.vaddr + p.offset;
    return -1;
  };

  // Dynamic section: needed libraries, soname, runpath.
  const needed: string[] = [];
  let soname: string | null = null;
  let runpath: string | null = null;
  const dynSh = shs.find((s) => s.type === 6);
  const dynPh = phs.find((p) => p.type === 2);
  const dynOff = dynSh ? dynSh.offset : dynPh ? dynPh.offset : -1;
  const dynSize = dynSh ? dynSh.size : dynPh ? dynPh.filesz : 0;
  if (dynOff >= 0) {
    const entSize = is64 ? 16 : 8;
    const entries: [number, number][] = [];
    for (let o = dynOff; o + entSize <= dynOff + dynSize && v.has(o, entSize) && entries.length < 4096; o += entSize) {
      const tag = is64 ? v.u64(o) : v.u32(o);
      const val = is64 ? v.u64(o + 8) : v.u32(o + 4);
      if (tag === 0) break;
      entries.push([tag, val]);
    }
    let strOff = dynSh && shs[dynSh.link] ? shs[dynSh.link]!.offset : -1;
    if (strOff < 0) {
      const strtab = entries.find(([t]) => t === 5);
      if (strtab) strOff = vaToOff(strtab[1]);
    }
    if (strOff >= 0) {
      for (const [tag, val] of entries) {
        if (tag === 1) needed.push(v.cstr(strOff + val, 512));
        else if (tag === 14) soname = v.cstr(strOff + val, 512);
        else if (tag === 29 || (tag === 15 && runpath === null)) runpath = v.cstr(strOff + val, 4096);
      }
    }
  }

  const readSymbols = (sh: Sh): { list: ElfSymbol[]; total: number; imports: string[]; exports: string[] } => {
    const entSize = is64 ? 24 : 16;
    const strSh = shs[sh.link];
    const total = sh.entsize ? Math.floor(sh.size / (sh.entsize || entSize)) : Math.floor(sh.size / entSize);
    const list: ElfSymbol[] = [];
    const imports: string[] = [];
    const exports: string[] = [];
    const n = Math.min(total, MAX_SYMBOL_SCAN);
    if (total > n) warnings.push(`${secName(sh)}: ${total} symbols; only the first ${n} read`);
    for (let i = 1; i < n; i++) {
      const o = sh.offset + i * (sh.entsize || entSize);
      if (!v.has(o, entSize)) break;
      const nameOff = v.u32(o);
      const info = is64 ? v.u8(o + 4) : v.u8(o + 12);
      const other = is64 ? v.u8(o + 5) : v.u8(o + 13);
      const shndx = is64 ? v.u16(o + 6) : v.u16(o + 14);
      const name = strSh && nameOff ? v.cstr(strSh.offset + nameOff, 1024) : "";
      const bind = SYM_BINDS[info >> 4] ?? String(info >> 4);
      const stype = SYM_TYPES[info & 0xf] ?? String(info & 0xf);
      const section = shndx === 0 ? "UND" : shndx === 0xfff1 ? "ABS" : shndx === 0xfff2 ? "COM" : String(shndx);
      if (name && sh.type === 11) {
        if (shndx === 0) imports.push(name);
        else if ((bind === "GLOBAL" || bind === "WEAK") && (stype === "FUNC" || stype === "OBJECT")) exports.push(name);
      }
      if (list.length < MAX_SYMBOLS) {
        list.push({
          name,
          value: is64 ? v.u64hex(o + 8) : hex(v.u32(o + 4)),
          size: is64 ? v.u64(o + 16) : v.u32(o + 8),
          type: stype,
          bind,
          visibility: SYM_VIS[other & 3]!,
          section,
        });
      }
    }
    return { list, total: Math.max(0, total - 1), imports, exports };
  };
  const symtab = shs.find((s) => s.type === 2);
  const dynsym = shs.find((s) => s.type === 11);
  const st = symtab ? readSymbols(symtab) : { list: [], total: 0, imports: [], exports: [] };
  const ds = dynsym ? readSymbols(dynsym) : { list: [], total: 0, imports: [], exports: [] };

  return {
    elf_header: {
      class: is64 ? "ELF64" : "ELF32",
      endianness: le ? "little" : "big",
      osabi: OSABI[buf[7]!] ?? `<unknown: ${buf[7]}>`,
      type: ELF_TYPES[type] ?? hex(type),
      machine: ELF_MACHINES[machine] ?? `<unknown>: ${hex(machine)}`,
      entry_point: entry,
      flags: hex(eflags),
      number_of_sections: shs.length,
      number_of_segments: phs.length,
    },
    elf_sections: sections,
    elf_segments: segments,
    elf_interpreter: interpreter,
    elf_needed: needed,
    elf_soname: soname,
    elf_runpath: runpath,
    elf_symbols: st.list,
    elf_symbols_total: st.total,
    elf_dynamic_symbols: ds.list,
    elf_dynamic_symbols_total: ds.total,
    elf_imports: [...new Set(ds.imports)].slice(0, MAX_SYMBOLS),
    elf_exports: [...new Set(ds.exports)].slice(0, MAX_SYMBOLS),
    stripped: !symtab,
    warnings,
  };
}

