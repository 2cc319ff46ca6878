/**
 * PE static analysis (what Cuckoo3 gets from pefile): headers, sections with entropy, imports by DLL,
 * exports, imphash (pefile's algorithm), resources, version info, PDB path, overlay.
 * Output keys follow Cuckoo3's `static.pe` (pe_imports, pe_exports, pe_sections, ...); every table walk
 * is bounded so a hostile file costs at most a few thousand entries.
 */
import { type SignatureInfo, readSignatures } from "./authenticode.ts";
import { FormatError, View, entropy, hex8, latin1, round, utf16le } from "./bytes.ts";
import { ordinalImportName, ordinalName } from "./pe-ordinals.ts";

export const MACHINE_TYPES: Record<number, string> = {
  0x0: "IMAGE_FILE_MACHINE_UNKNOWN",
  0x14c: "IMAGE_FILE_MACHINE_I386",
  0x162: "IMAGE_FILE_MACHINE_R3000",
  0x166: "IMAGE_FILE_MACHINE_R4000",
  0x1c0: "IMAGE_FILE_MACHINE_ARM",
  0x1c2: "IMAGE_FILE_MACHINE_THUMB",
  0x1c4: "IMAGE_FILE_MACHINE_ARMNT",
  0x1f0: "IMAGE_FILE_MACHINE_POWERPC",
  0x200: "IMAGE_FILE_MACHINE_IA64",
  0x5064: "IMAGE_FILE_MACHINE_RISCV64",
  0x8664: "IMAGE_FILE_MACHINE_AMD64",
  0xaa64: "IMAGE_FILE_MACHINE_ARM64",
  0xebc: "IMAGE_FILE_MACHINE_EBC",
};

const FILE_CHARACTERISTICS: [number, string][] = [
  [0x1, "IMAGE_FILE_RELOCS_STRIPPED"], [0x2, "IMAGE_FILE_EXECUTABLE_IMAGE"], [0x4, "IMAGE_FILE_LINE_NUMS_STRIPPED"],
  [0x8, "IMAGE_FILE_LOCAL_SYMS_STRIPPED"], [0x10, "IMAGE_FILE_AGGRESIVE_WS_TRIM"], [0x20, "IMAGE_FILE_LARGE_ADDRESS_AWARE"],
  [0x80, "IMAGE_FILE_BYTES_REVERSED_LO"], [0x100, "IMAGE_FILE_32BIT_MACHINE"], [0x200, "IMAGE_FILE_DEBUG_STRIPPED"],
  [0x400, "IMAGE_FILE_REMOVABLE_RUN_FROM_SWAP"], [0x800, "IMAGE_FILE_NET_RUN_FROM_SWAP"], [0x1000, "IMAGE_FILE_SYSTEM"],
  [0x2000, "IMAGE_FILE_DLL"], [0x4000, "IMAGE_FILE_UP_SYSTEM_ONLY"], [0x8000, "IMAGE_FILE_BYTES_REVERSED_HI"],
];

const DLL_CHARACTERISTICS: [number, string][] = [
  [0x20, "IMAGE_DLLCHARACTERISTICS_HIGH_ENTROPY_VA"], [0x40, "IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE"],
  [0x80, "IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY"], [0x100, "IMAGE_DLLCHARACTERISTICS_NX_COMPAT"],
  [0x200, "IMAGE_DLLCHARACTERISTICS_NO_ISOLATION"], [0x400, "IMAGE_DLLCHARACTERISTICS_NO_SEH"],
  [0x800, "IMAGE_DLLCHARACTERISTICS_NO_BIND"], [0x1000, "IMAGE_DLLCHARACTERISTICS_APPCONTAINER"],
  [0x2000, "IMAGE_DLLCHARACTERISTICS_WDM_DRIVER"], [0x4000, "IMAGE_DLLCHARACTERISTICS_GUARD_CF"],
  [0x8000, "IMAGE_DLLCHARACTERISTICS_TERMINAL_SERVER_AWARE"],
];

const SUBSYSTEMS: Record<number, string> = {
  0: "IMAGE_SUBSYSTEM_UNKNOWN", 1: "IMAGE_SUBSYSTEM_NATIVE", 2: "IMAGE_SUBSYSTEM_WINDOWS_GUI", 3: "IMAGE_SUBSYSTEM_WINDOWS_CUI",
  5: "IMAGE_SUBSYSTEM_OS2_CUI", 7: "IMAGE_SUBSYSTEM_POSIX_CUI", 8: "IMAGE_SUBSYSTEM_NATIVE_WINDOWS", 9: "IMAGE_SUBSYSTEM_WINDOWS_CE_GUI",
  10: "IMAGE_SUBSYSTEM_EFI_APPLICATION", 11: "IMAGE_SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER", 12: "IMAGE_SUBSYSTEM_EFI_RUNTIME_DRIVER",
  13: "IMAGE_SUBSYSTEM_EFI_ROM", 14: "IMAGE_SUBSYSTEM_XBOX", 16: "IMAGE_SUBSYSTEM_WINDOWS_BOOT_APPLICATION",
};

export const RESOURCE_TYPES: Record<number, string> = {
  1: "RT_CURSOR", 2: "RT_BITMAP", 3: "RT_ICON", 4: "RT_MENU", 5: "RT_DIALOG", 6: "RT_STRING", 7: "RT_FONTDIR", 8: "RT_FONT",
  9: "RT_ACCELERATOR", 10: "RT_RCDATA", 11: "RT_MESSAGETABLE", 12: "RT_GROUP_CURSOR", 14: "RT_GROUP_ICON", 16: "RT_VERSION",
  17: "RT_DLGINCLUDE", 19: "RT_PLUGPLAY", 20: "RT_VXD", 21: "RT_ANICURSOR", 22: "RT_ANIICON", 23: "RT_HTML", 24: "RT_MANIFEST",
};

const LANGS: Record<number, string> = {
  0x00: "LANG_NEUTRAL", 0x01: "LANG_ARABIC", 0x02: "LANG_BULGARIAN", 0x03: "LANG_CATALAN", 0x04: "LANG_CHINESE", 0x05: "LANG_CZECH",
  0x06: "LANG_DANISH", 0x07: "LANG_GERMAN", 0x08: "LANG_GREEK", 0x09: "LANG_ENGLISH", 0x0a: "LANG_SPANISH", 0x0b: "LANG_FINNISH",
  0x0c: "LANG_FRENCH", 0x0d: "LANG_HEBREW", 0x0e: "LANG_HUNGARIAN", 0x0f: "LANG_ICELANDIC", 0x10: "LANG_ITALIAN", 0x11: "LANG_JAPANESE",
  0x12: "LANG_KOREAN", 0x13: "LANG_DUTCH", 0x14: "LANG_NORWEGIAN", 0x15: "LANG_POLISH", 0x16: "LANG_PORTUGUESE", 0x18: "LANG_ROMANIAN",
  0x19: "LANG_RUSSIAN", 0x1a: "LANG_CROATIAN", 0x1b: "LANG_SLOVAK", 0x1d: "LANG_SWEDISH", 0x1e: "LANG_THAI", 0x1f: "LANG_TURKISH",
  0x21: "LANG_INDONESIAN", 0x22: "LANG_UKRAINIAN", 0x23: "LANG_BELARUSIAN", 0x24: "LANG_SLOVENIAN", 0x25: "LANG_ESTONIAN",
  0x26: "LANG_LATVIAN", 0x27: "LANG_LITHUANIAN", 0x29: "LANG_FARSI", 0x2a: "LANG_VIETNAMESE", 0x7f: "LANG_INVARIANT",
};
const SUBLANGS: Record<string, string> = {
  "0:0": "SUBLANG_NEUTRAL", "0:1": "SUBLANG_DEFAULT", "0:2": "SUBLANG_SYS_DEFAULT",
  "9:1": "SUBLANG_ENGLISH_US", "9:2": "SUBLANG_ENGLISH_UK", "9:3": "SUBLANG_ENGLISH_AUS", "9:4": "SUBLANG_ENGLISH_CAN",
  "7:1": "SUBLANG_GERMAN", "12:1": "SUBLANG_FRENCH", "25:1": "SUBLANG_RUSSIAN_RUSSIA", "4:1": "SUBLANG_CHINESE_TRADITIONAL",
  "4:2": "SUBLANG_CHINESE_SIMPLIFIED", "10:1": "SUBLANG_SPANISH", "16:1": "SUBLANG_ITALIAN", "17:1": "SUBLANG_JAPANESE_JAPAN",
  "18:1": "SUBLANG_KOREAN", "22:1": "SUBLANG_PORTUGUESE_BRAZILIAN", "22:2": "SUBLANG_PORTUGUESE",
};

export interface PeImport {
  dll: string;
  imports: { address: string; name: string; ordinal?: number; hint?: number }[];
}
export interface PeExport {
  address: string;
  ordinal: number;
  name: string;
  forwarder?: string;
}
export interface PeSection {
  name: string;
  virtual_address: string;
  virtual_size: string;
  size_of_data: string;
  pointer_to_raw_data: string;
  characteristics: string;
  permissions: string;
  entropy: number;
}
export interface PeResource {
  /** The resource type's name (RT_* or its string name), as Cuckoo3 calls it. */
  name: string;
  /** The resource's own name or id. */
  id: string;
  offset: string;
  size: string;
  language: string | null;
  sublanguage: string;
  entropy: number;
  filetype?: string;
}

export interface PeInfo {
  pe_headers: {
    bits: 32 | 64;
    machine: string;
    timestamp: number;
    characteristics: string[];
    dll: boolean;
    subsystem: string;
    dll_characteristics: string[];
    entry_point: string;
    image_base: string;
    size_of_image: number;
    checksum: string;
    number_of_sections: number;
    dotnet: boolean;
  };
  pe_machine_type: string;
  /** ISO time (UTC) of the linker's TimeDateStamp. */
  pe_timestamp: string | null;
  pe_imports: PeImport[];
  pe_exports: PeExport[];
  pe_sections: PeSection[];
  pe_resources: PeResource[];
  pe_versioninfo: { name: string; value: string }[];
  pe_imphash: string;
  pe_pdb_path: string | null;
  pe_overlay: { offset: string; size: number; entropy: number } | null;
  /** An Authenticode certificate table is present. */
  signed: boolean;
  /** Each WIN_CERTIFICATE: signer and certificates, digest algorithm, whether the signed digest is the file's. */
  pe_signatures: SignatureInfo[];
  /** Tables cut short by the bounds, or damaged; analysis continued. */
  warnings: string[];
}

const MAX_DLLS = 1024;
const MAX_THUNKS = 16384;
const MAX_EXPORTS = 16384;
const MAX_RESOURCES = 4096;

function flags(v: number, table: [number, string][]): string[] {
  return table.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n);
}

interface Sec {
  name: string;
  va: number;
  vsize: number;
  rawPtr: number;
  rawSize: number;
  chars: number;
}

export function isPe(buf: Uint8Array): boolean {
  if (buf.length < 0x40 || buf[0] !== 0x4d || buf[1] !== 0x5a) return false;
  const v = new View(buf);
  const lfanew = v.u32(0x3c);
  return v.has(lfanew, 4) && v.u32(lfanew) === 0x4550;
}

export function parsePe(buf: Uint8Array): PeInfo {
  const v = new View(buf);
  const warnings: string[] = [];
  if (!isPe(buf)) throw new FormatError("not a PE file (no MZ/PE signature)");
  const nt = v.u32(0x3c);
  const fh = nt + 4;
  const machine = v.u16(fh);
  const nsec = v.u16(fh + 2);
  const timestamp = v.u32(fh + 4);
  const optSize = v.u16(fh + 16);
  const chars = v.u16(fh + 18);
  const oh = fh + 20;
  const magic = v.u16(oh);
  if (magic !== 0x10b && magic !== 0x20b) throw new FormatError(`unknown optional header magic 0x${magic.toString(16)}`);
  const bits: 32 | 64 = magic === 0x20b ? 64 : 32;
  const entry = v.u32(oh + 16);
  const imageBase = bits === 64 ? Number(v.dv.getBigUint64(oh + 24, true)) : v.u32(oh + 28);
  const fileAlign = v.u32(oh + 36);
  const sizeOfImage = v.u32(oh + 56);
  const sizeOfHeaders = v.u32(oh + 60);
  const checksum = v.u32(oh + 64);
  const subsystem = v.u16(oh + 68);
  const dllChars = v.u16(oh + 70);
  const ndirs = Math.min(16, v.u32(oh + (bits === 64 ? 108 : 92)));
  const ddBase = oh + (bits === 64 ? 112 : 96);
  const dir = (i: number) => (i < ndirs && v.has(ddBase + i * 8, 8) ? { rva: v.u32(ddBase + i * 8), size: v.u32(ddBase + i * 8 + 4) } : { rva: 0, size: 0 });

  const secs: Sec[] = [];
  const shOff = oh + optSize;
  // Long section names ("/4") point into the COFF string table after the symbols (mingw builds have them).
  const strtab = v.u32(fh + 8) ? v.u32(fh + 8) + v.u32(fh + 12) * 18 : 0;
  const longName = (n: string) => {
    const m = /^\/(\d+)$/.exec(n);
    if (!m || !strtab || !v.has(strtab + Number(m[1]), 1)) return n;
    return v.cstr(strtab + Number(m[1]), 256) || n;
  };
  // pefile's parse_sections: stop at a header that is not all in the file or is all zeros, at 0x800
  // sections, or at a header with three implausible fields at once (a count of 0xffff reads into the
  // code otherwise and lists garbage sections).
  const sectAlign = v.u32(oh + 32);
  const fileAdj = (x: number) => (fileAlign < 0x200 ? x : Math.floor(x / 0x200) * 0x200);
  const sectAdj = (x: number) => {
    const a = sectAlign < 0x1000 ? fileAlign : sectAlign;
    return a && x % a ? a * Math.floor(x / a) : x;
  };
  for (let i = 0; i < nsec; i++) {
    if (i >= 0x800) {
      warnings.push(`too many sections ${nsec} (>= 2048)`);
      break;
    }
    const o = shOff + i * 40;
    if (!v.has(o, 40)) {
      warnings.push(`section table truncated after ${i} sections`);
      break;
    }
    const hdr = v.bytes(o, 40);
    if (hdr.every((b) => b === 0)) {
      warnings.push(`section ${i} is all zero bytes: the table ends there`);
      break;
    }
    const sec: Sec = {
      name: longName(latin1(hdr.subarray(0, 8)).replace(/\0.*$/s, "")),
      vsize: v.u32(o + 8),
      va: v.u32(o + 12),
      rawSize: v.u32(o + 16),
      rawPtr: v.u32(o + 20),
      chars: v.u32(o + 36),
    };
    const odd = [
      sec.rawSize + sec.rawPtr > buf.length,
      fileAdj(sec.rawPtr) > buf.length,
      sec.vsize > 0x10000000,
      sectAdj(sec.va) > 0x10000000,
      fileAlign !== 0 && sec.rawPtr % fileAlign !== 0,
    ].filter(Boolean).length;
    if (odd >= 3) {
      warnings.push(`section ${i} has ${odd} implausible fields: the table ends there (as pefile)`);
      break;
    }
    if (fileAdj(sec.rawPtr) > buf.length) warnings.push(`section ${i} (${sec.name}): raw data at ${hex8(sec.rawPtr)} is past the end of the file`);
    secs.push(sec);
  }
  // pefile rounds PointerToRawData down to 512 when the file alignment is at least that.
  // Unsigned: `& ~0x1ff` alone turns 0xffffffff into -512 (and a negative start read the whole file).
  const rawStart = (s: Sec) => (fileAlign >= 0x200 ? (s.rawPtr & ~0x1ff) >>> 0 : s.rawPtr);
  const rvaToOff = (rva: number): number => {
    for (const s of secs) {
      const span = Math.max(s.vsize, s.rawSize);
      if (rva >= s.va && rva < s.va + span) {
        const off = rva - s.va + rawStart(s);
        return off < buf.length ? off : -1;
      }
    }
    return rva < Math.max(sizeOfHeaders, 0x200) && rva < buf.length ? rva : -1;
  };
  const str = (rva: number, max = 512) => {
    const off = rvaToOff(rva);
    return off < 0 ? "" : v.cstr(off, max);
  };

  const sections: PeSection[] = secs.map((s) => {
    const start = Math.min(rawStart(s), buf.length);
    const end = Math.min(buf.length, start + s.rawSize);
    const perm = `${s.chars & 0x40000000 ? "r" : "-"}${s.chars & 0x80000000 ? "w" : "-"}${s.chars & 0x20000000 ? "x" : "-"}`;
    return {
      name: s.name,
      virtual_address: hex8(s.va),
      virtual_size: hex8(s.vsize),
      size_of_data: hex8(s.rawSize),
      pointer_to_raw_data: hex8(s.rawPtr),
      characteristics: hex8(s.chars),
      permissions: perm,
      entropy: round(entropy(buf, start, end), 4),
    };
  });

  // --- imports ---
  const imports: PeImport[] = [];
  const impstrs: string[] = [];
  const idir = dir(1);
  if (idir.rva) {
    let off = rvaToOff(idir.rva);
    let thunksLeft = MAX_THUNKS;
    for (let n = 0; off >= 0 && v.has(off, 20) && n < MAX_DLLS; n++, off += 20) {
      const oft = v.u32(off);
      const nameRva = v.u32(off + 12);
      const ft = v.u32(off + 16);
      if (oft === 0 && nameRva === 0 && ft === 0) break;
      const dll = str(nameRva, 256);
      if (!dll) {
        warnings.push(`import descriptor ${n} has no readable DLL name`);
        continue;
      }
      const entry: PeImport = { dll, imports: [] };
      let t = rvaToOff(oft || ft);
      const size = bits === 64 ? 8 : 4;
      for (let i = 0; t >= 0 && v.has(t, size) && thunksLeft > 0; i++, t += size, thunksLeft--) {
        const lo = v.u32(t);
        const hi = bits === 64 ? v.u32(t + 4) : 0;
        if (lo === 0 && hi === 0) break;
        const byOrdinal = bits === 64 ? (hi & 0x80000000) !== 0 : (lo & 0x80000000) !== 0;
        const address = "0x" + (imageBase + ft + i * size).toString(16);
        if (byOrdinal) {
          const ordinal = lo & 0xffff;
          // Named as pefile names them: ws2_32/wsock32/oleaut32 ordinals by their export name.
          entry.imports.push({ address, name: ordinalImportName(dll, ordinal), ordinal });
        } else {
          const hOff = rvaToOff(lo & 0x7fffffff);
          if (hOff < 0 || !v.has(hOff, 2)) {
            warnings.push(`${dll}: import ${i} points outside the file`);
            break;
          }
          entry.imports.push({ address, name: v.cstr(hOff + 2, 512), hint: v.u16(hOff) });
        }
      }
      if (thunksLeft === 0) warnings.push(`imports cut at ${MAX_THUNKS} functions`);
      imports.push(entry);
    }
  }
  // pefile's imphash: "lib.func" lowercased, the lib without .dll/.ocx/.sys, ordinals named where pefile knows them.
  for (const imp of imports) {
    let lib = imp.dll.toLowerCase();
    const dot = lib.lastIndexOf(".");
    if (dot > 0 && ["ocx", "sys", "dll"].includes(lib.slice(dot + 1))) lib = lib.slice(0, dot);
    for (const f of imp.imports) {
      const fname = f.name || ordinalName(imp.dll, f.ordinal ?? 0);
      if (fname) impstrs.push(`${lib}.${fname.toLowerCase()}`);
    }
  }
  const imphash = impstrs.length ? new Bun.CryptoHasher("md5").update(impstrs.join(",")).digest("hex") : "";

  // --- exports ---
  const exports: PeExport[] = [];
  const edir = dir(0);
  if (edir.rva) {
    const eo = rvaToOff(edir.rva);
    if (eo >= 0 && v.has(eo, 40)) {
      const base = v.u32(eo + 16);
      const nfunc = Math.min(v.u32(eo + 20), MAX_EXPORTS);
      const nnames = Math.min(v.u32(eo + 24), MAX_EXPORTS);
      const fOff = rvaToOff(v.u32(eo + 28));
      const nOff = rvaToOff(v.u32(eo + 32));
      const oOff = rvaToOff(v.u32(eo + 36));
      const names = new Map<number, string>();
      if (nOff >= 0 && oOff >= 0) {
        for (let i = 0; i < nnames && v.has(nOff + i * 4, 4) && v.has(oOff + i * 2, 2); i++) names.set(v.u16(oOff + i * 2), str(v.u32(nOff + i * 4), 512));
      }
      if (fOff >= 0) {
        for (let i = 0; i < nfunc && v.has(fOff + i * 4, 4); i++) {
          const rva = v.u32(fOff + i * 4);
          if (rva === 0) continue;
          const e: PeExport = { address: "0x" + (imageBase + rva).toString(16), ordinal: base + i, name: names.get(i) ?? "" };
          if (rva >= edir.rva && rva < edir.rva + edir.size) e.forwarder = str(rva, 256);
          exports.push(e);
        }
      }
      if (v.u32(eo + 20) > MAX_EXPORTS) warnings.push(`exports cut at ${MAX_EXPORTS}`);
    }
  }

  // --- resources ---
  const resources: PeResource[] = [];
  let versionData: Uint8Array | undefined;
  const rdir = dir(2);
  const rbase = rdir.rva ? rvaToOff(rdir.rva) : -1;
  if (rbase >= 0) {
    const seen = new Set<number>();
    const dirEntries = (rel: number): { id: number | string; rel: number; isDir: boolean }[] => {
      const o = rbase + rel;
      if (seen.has(o) || !v.has(o, 16)) return [];
      seen.add(o);
      const n = Math.min(v.u16(o + 12) + v.u16(o + 14), MAX_RESOURCES);
      const out: { id: number | string; rel: number; isDir: boolean }[] = [];
      for (let i = 0; i < n && v.has(o + 16 + i * 8, 8); i++) {
        const nameField = v.u32(o + 16 + i * 8);
        const dataField = v.u32(o + 16 + i * 8 + 4);
        let id: number | string = nameField & 0xffff;
        if (nameField & 0x80000000) {
          const so = rbase + (nameField & 0x7fffffff);
          id = v.has(so, 2) && v.has(so + 2, v.u16(so) * 2) ? utf16le(v.bytes(so + 2, v.u16(so) * 2)) : "";
        }
        out.push({ id, rel: dataField & 0x7fffffff, isDir: (dataField & 0x80000000) !== 0 });
      }
      return out;
    };
    outer: for (const t of dirEntries(0)) {
      if (!t.isDir) continue;
      const typeName = typeof t.id === "string" ? t.id : (RESOURCE_TYPES[t.id] ?? String(t.id));
      for (const nameEntry of dirEntries(t.rel)) {
        if (!nameEntry.isDir) continue;
        for (const lang of dirEntries(nameEntry.rel)) {
          if (lang.isDir || resources.length >= MAX_RESOURCES) {
            if (resources.length >= MAX_RESOURCES) {
              warnings.push(`resources cut at ${MAX_RESOURCES}`);
              break outer;
            }
            continue;
          }
          const de = rbase + lang.rel;
          if (!v.has(de, 16)) continue;
          const dataRva = v.u32(de);
          const size = v.u32(de + 4);
          const doff = rvaToOff(dataRva);
          const langId = typeof lang.id === "number" ? lang.id : 0;
          const primary = langId & 0x3ff;
          const sub = langId >> 10;
          const end = doff >= 0 ? Math.min(buf.length, doff + size) : 0;
          resources.push({
            name: typeName,
            id: String(nameEntry.id),
            offset: hex8(dataRva),
            size: hex8(size),
            language: LANGS[primary] ?? null,
            sublanguage: SUBLANGS[`${primary}:${sub}`] ?? SUBLANGS[`0:${sub}`] ?? `SUBLANG_${sub}`,
            entropy: doff >= 0 ? round(entropy(buf, doff, end), 4) : 0,
          });
          if (t.id === 16 && doff >= 0 && !versionData) versionData = buf.subarray(doff, end);
        }
      }
    }
  }

  // --- debug: CodeView PDB path ---
  let pdb: string | null = null;
  const ddir = dir(6);
  if (ddir.rva) {
    const d0 = rvaToOff(ddir.rva);
    for (let i = 0; d0 >= 0 && i < Math.min(ddir.size / 28, 16) && v.has(d0 + i * 28, 28); i++) {
      if (v.u32(d0 + i * 28 + 12) !== 2) continue;
      const p = v.u32(d0 + i * 28 + 24);
      if (v.has(p, 24) && v.u32(p) === 0x53445352) pdb = v.cstr(p + 24, 1024);
    }
  }

  // Overlay: bytes after the last section's raw data (installers, appended payloads).
  const lastRaw = secs.reduce((m, s) => (s.rawSize ? Math.max(m, rawStart(s) + s.rawSize) : m), sizeOfHeaders);
  const sigDir = dir(4);
  const overlayEnd = sigDir.rva && sigDir.rva >= lastRaw ? sigDir.rva : buf.length;
  const overlay = lastRaw < overlayEnd ? { offset: hex8(lastRaw), size: overlayEnd - lastRaw, entropy: round(entropy(buf, lastRaw, overlayEnd), 4) } : null;

  const clr = dir(14);
  return {
    pe_headers: {
      bits,
      machine: MACHINE_TYPES[machine] ?? `0x${machine.toString(16)}`,
      timestamp,
      characteristics: flags(chars, FILE_CHARACTERISTICS),
      dll: (chars & 0x2000) !== 0,
      subsystem: SUBSYSTEMS[subsystem] ?? String(subsystem),
      dll_characteristics: flags(dllChars, DLL_CHARACTERISTICS),
      entry_point: hex8(entry),
      image_base: "0x" + imageBase.toString(16),
      size_of_image: sizeOfImage,
      checksum: hex8(checksum),
      number_of_sections: nsec,
      dotnet: clr.rva !== 0 && clr.size !== 0,
    },
    pe_machine_type: MACHINE_TYPES[machine] ?? `0x${machine.toString(16)}`,
    pe_timestamp: timestamp ? new Date(timestamp * 1000).toISOString().slice(0, 19) : null,
    pe_imports: imports,
    pe_exports: exports,
    pe_sections: sections,
    pe_resources: resources,
    pe_versioninfo: versionData ? parseVersionInfo(versionData) : [],
    pe_imphash: imphash,
    pe_pdb_path: pdb,
    pe_overlay: overlay,
    signed: sigDir.rva !== 0 && sigDir.size !== 0,
    pe_signatures: sigDir.rva && sigDir.size ? readSignatures(buf, { checksumOffset: oh + 64, certDirOffset: ddBase + 4 * 8, certTable: { offset: sigDir.rva, size: sigDir.size } }) : [],
    warnings,
  };
}

/** VS_VERSIONINFO: StringFileInfo name/value pairs and VarFileInfo's Translation, as pefile lists them. */
export function parseVersionInfo(data: Uint8Array): { name: string; value: string }[] {
  const v = new View(data);
  const out: { name: string; value: string }[] = [];
  const align = (n: number) => (n + 3) & ~3;
  // A block: wLength, wValueLength, wType, szKey (UTF-16, NUL), padding, value, padding, children.
  const block = (off: number, depth: number): number => {
    if (depth > 4 || !v.has(off, 6)) return data.length;
    const len = v.u16(off);
    const valueLen = v.u16(off + 2);
    const type = v.u16(off + 4);
    const end = Math.min(data.length, off + Math.max(len, 6));
    let k = off + 6;
    const keyStart = k;
    while (k + 1 < end && (data[k] !== 0 || data[k + 1] !== 0)) k += 2;
    const key = utf16le(data.subarray(keyStart, k));
    let p = align(k + 2);
    if (depth === 0) {
      p = align(p + valueLen);
    } else if (depth === 3) {
      // String: wValueLength counts UTF-16 words.
      const bytes = Math.min(valueLen * 2, Math.max(0, end - p));
      out.push({ name: key, value: utf16le(data.subarray(p, p + bytes)).replace(/\0+$/, "") });
      return end;
    } else if (depth === 2 && key === "Translation" && type === 0) {
      const vals: string[] = [];
      for (let q = p; q + 4 <= p + valueLen && v.has(q, 4); q += 4) vals.push("0x" + ((v.u16(q) << 16) | v.u16(q + 2)).toString(16).padStart(8, "0"));
      out.push({ name: "Translation", value: vals.join(" ") });
      return end;
    } else {
      p = align(p + valueLen * (type === 1 ? 2 : 1));
    }
    let guard = 0;
    while (p + 6 <= end && guard++ < 512) {
      const next = block(p, depth + 1);
      if (next <= p) break;
      p = align(next);
    }
    return end;
  };
  try {
    block(0, 0);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
  return out;
}
