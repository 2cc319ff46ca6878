import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "./bytes.ts";
import { parsePe, parseVersionInfo } from "./pe.ts";
import { type Samples, run, sampleDir, samples } from "../../../test/process/samples.ts";

let s: Samples;
beforeAll(async () => {
  s = await samples();
}, 60000);

const PEFILE = "/usr/lib/python3/dist-packages/pefile.py";

/** Reference facts from binutils' objdump for the PE's own architecture. */
async function objdump(prefix: string, path: string) {
  const p = await run([`${prefix}-objdump`, "-p", path]);
  const h = await run([`${prefix}-objdump`, "-h", "-w", path]);
  const sections = [...h.matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)/gm)].map((m) => ({ name: m[1]!, size: parseInt(m[2]!, 16), vma: BigInt("0x" + m[3]!), fileOff: parseInt(m[4]!, 16) }));
  const imageBase = BigInt("0x" + /^ImageBase\s+([0-9a-f]+)/m.exec(p)![1]!);
  const entry = parseInt(/^AddressOfEntryPoint\s+([0-9a-f]+)/m.exec(p)![1]!, 16);
  const imports = new Map<string, string[]>();
  for (const block of p.split(/\n\s*DLL Name: /).slice(1)) {
    const dll = block.split("\n")[0]!.trim();
    const fns = [...block.matchAll(/^\s+[0-9a-f]+\s+(?:<none>\s+)?[0-9a-f]+\s+(\S+)\s*$/gm)].map((m) => m[1]!);
    imports.set(dll, fns);
  }
  const exportsPart = p.split("[Ordinal/Name Pointer] Table")[1]?.split("\n\n")[0] ?? "";
  const exports = [...exportsPart.matchAll(/\[\s*\d+\]\s+(\S+)/g)].map((m) => m[1]!);
  return { sections, imageBase, entry, imports, exports, timestamp: /^Time\/Date\s+(.*)$/m.exec(p)?.[1] };
}

/** Section names as pefile gives them; falc resolves the COFF long names ("/4") that pefile leaves as they are. */
const names = (ours: { name: string }[], ref: { name: string }[]) => [ours.map((x, i) => (ref[i]?.name.startsWith("/") ? ref[i]!.name : x.name.slice(0, 8))), ref.map((x) => x.name)];

interface PefileFacts {
  imphash: string;
  sections: { name: string; entropy: number; pointer: number }[];
  resources: number[];
  imports: { dll: string; names: string[]; ordinals: (number | null)[] }[];
}

/** pefile (python3-pefile) on a file: the reference for imphash, sections, resources and import names. */
async function pefileFacts(path: string): Promise<PefileFacts> {
  const py = `
import json, sys, pefile
p = pefile.PE(sys.argv[1])
res = [e.struct.Id for e in p.DIRECTORY_ENTRY_RESOURCE.entries] if hasattr(p, "DIRECTORY_ENTRY_RESOURCE") else []
imps = [{"dll": d.dll.decode(), "names": [(i.name or b"").decode() for i in d.imports], "ordinals": [i.ordinal if i.import_by_ordinal else None for i in d.imports]} for d in getattr(p, "DIRECTORY_ENTRY_IMPORT", [])]
secs = [{"name": s.Name.rstrip(b"\\0").decode("latin1"), "entropy": s.get_entropy(), "pointer": s.PointerToRawData} for s in p.sections]
print(json.dumps({"imphash": p.get_imphash(), "sections": secs, "resources": res, "imports": imps}))`;
  return JSON.parse(await run(["/usr/bin/python3", "-c", py, path]));
}

describe("PE static analysis", () => {
  for (const [label, key, prefix] of [["PE32+ x86-64", "pe64", "x86_64-w64-mingw32"], ["PE32 i386", "pe32", "i686-w64-mingw32"], ["DLL", "dll", "x86_64-w64-mingw32"]] as const) {
    test(`${label}: headers, sections, imports, exports match ${prefix}-objdump`, async () => {
      const path = s[key]!;
      expect(path).toBeDefined();
      const info = parsePe(await Bun.file(path).bytes());
      const ref = await objdump(prefix, path);
      expect(BigInt(info.pe_headers.image_base)).toBe(ref.imageBase);
      expect(parseInt(info.pe_headers.entry_point, 16)).toBe(ref.entry);
      expect(info.pe_headers.bits).toBe(key === "pe32" ? 32 : 64);
      expect(info.pe_machine_type).toBe(key === "pe32" ? "IMAGE_FILE_MACHINE_I386" : "IMAGE_FILE_MACHINE_AMD64");
      expect(info.pe_headers.dll).toBe(key === "dll");
      expect(info.pe_headers.subsystem).toBe(key === "pe32" ? "IMAGE_SUBSYSTEM_WINDOWS_GUI" : "IMAGE_SUBSYSTEM_WINDOWS_CUI");
      // objdump -h lists sections with contents; .bss-like ones have no file data and differ in size reporting.
      const ours = info.pe_sections.filter((x) => parseInt(x.size_of_data, 16) > 0);
      const refSecs = ref.sections.filter((x) => x.fileOff > 0);
      expect(ours.map((x) => x.name)).toEqual(refSecs.map((x) => x.name));
      for (const r of refSecs) {
        const o = info.pe_sections.find((x) => x.name === r.name)!;
        expect(BigInt(info.pe_headers.image_base) + BigInt(parseInt(o.virtual_address, 16))).toBe(r.vma);
        expect(parseInt(o.pointer_to_raw_data, 16)).toBe(r.fileOff);
        expect(o.entropy).toBeGreaterThanOrEqual(0);
        expect(o.entropy).toBeLessThanOrEqual(8);
      }
      expect(info.pe_imports.map((i) => i.dll)).toEqual([...ref.imports.keys()]);
      for (const imp of info.pe_imports) expect(imp.imports.map((f) => f.name)).toEqual(ref.imports.get(imp.dll)!);
      expect(info.pe_exports.map((e) => e.name)).toEqual(ref.exports);
      if (key === "dll") expect(info.pe_exports.map((e) => [e.name, e.ordinal])).toEqual([["falc_add", 1], ["falc_mul", 2], ["falc_name", 3]]);
      if (key !== "dll") {
        const all = info.pe_imports.flatMap((i) => i.imports.map((f) => f.name));
        for (const f of ["VirtualAllocEx", "WriteProcessMemory", "CreateRemoteThread", "MessageBoxA", "WSAStartup"]) expect(all).toContain(f);
      }
      expect(info.warnings).toEqual([]);
    });
  }

  test("resources from windres: type, name, language, size; version info strings", async () => {
    expect(s.pe64).toBeDefined();
    const info = parsePe(await Bun.file(s.pe64!).bytes());
    const rc = info.pe_resources.find((r) => r.name === "RT_RCDATA")!;
    expect(rc).toMatchObject({ id: "FALCDATA", language: "LANG_ENGLISH", sublanguage: "SUBLANG_ENGLISH_US" });
    expect(parseInt(rc.size, 16)).toBe("falc resource data ".length + "ABCDABCDABCD".length);
    expect(info.pe_resources.some((r) => r.name === "RT_VERSION")).toBe(true);
    expect(info.pe_versioninfo).toEqual(expect.arrayContaining([{ name: "CompanyName", value: "falc test" }, { name: "FileDescription", value: "falc fixture" }, { name: "Translation", value: "0x040904b0" }]));
    expect(parseVersionInfo(new Uint8Array(3))).toEqual([]);
  });

  test("imphash, section entropy, resource types and import names equal pefile's (ordinal imports named like pefile)", async () => {
    expect(existsSync(PEFILE)).toBe(true);
    for (const path of [s.pe64!, s.pe32!, s.dll!, s.peOrdinals!]) {
      const info = parsePe(await Bun.file(path).bytes());
      const ref = await pefileFacts(path);
      expect(info.pe_imphash).toBe(ref.imphash);
      const [n1, n2] = names(info.pe_sections, ref.sections);
      expect(n1).toEqual(n2!);
      info.pe_sections.forEach((sec, i) => expect(sec.entropy).toBeCloseTo(ref.sections[i]!.entropy, 3));
      expect(info.pe_resources.map((r) => r.name)).toEqual(ref.resources.map((id) => ({ 10: "RT_RCDATA", 16: "RT_VERSION" })[id] ?? String(id)));
      expect(info.pe_imports.map((d) => ({ dll: d.dll, names: d.imports.map((f) => f.name), ordinals: d.imports.map((f) => f.ordinal ?? null) }))).toEqual(ref.imports);
    }
    const ord = parsePe(await Bun.file(s.peOrdinals!).bytes());
    const ws2 = ord.pe_imports.find((i) => i.dll.toLowerCase() === "ws2_32.dll")!;
    expect(ws2.imports.map((f) => [f.ordinal, f.name]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([[1, "accept"], [2, "bind"], [115, "WSAStartup"]]);
  });

  test("regressions against pefile: PointerToRawData 0xffffffff, NumberOfSections 0xffff", async () => {
    const buf = await Bun.file(s.pe64!).bytes();
    const dir = join(sampleDir(), "pe-odd");
    mkdirSync(dir, { recursive: true });
    const pe = new DataView(buf.buffer, buf.byteOffset).getUint32(0x3c, true);
    const optSize = new DataView(buf.buffer, buf.byteOffset).getUint16(pe + 20, true);
    const sh = pe + 24 + optSize;

    // Raw data "at" 0xffffffff: three implausible fields (past the end twice, unaligned), so pefile ends the
    // table there, and so does falc; at 0xfffffe00 (aligned) the section stays: unsigned offset (not -512),
    // entropy 0 like pefile (not the whole file's), and a warning.
    for (const [ptr, kept] of [[0xffffffff, false], [0xfffffe00, true]] as const) {
      const far = Uint8Array.from(buf);
      new DataView(far.buffer).setUint32(sh + 40 + 20, ptr, true);
      writeFileSync(join(dir, "far.exe"), far);
      const a = parsePe(far);
      const refA = await pefileFacts(join(dir, "far.exe"));
      const [a1, a2] = names(a.pe_sections, refA.sections);
      expect(a1).toEqual(a2!);
      a.pe_sections.forEach((sec, i) => expect(sec.entropy).toBeCloseTo(refA.sections[i]!.entropy, 3));
      if (kept) {
        expect(a.pe_sections[1]).toMatchObject({ pointer_to_raw_data: "0xfffffe00", entropy: 0 });
        expect(a.warnings.some((w) => w.includes("raw data at 0xfffffe00 is past the end of the file"))).toBe(true);
      } else {
        expect(a.pe_sections).toHaveLength(1);
        expect(a.warnings.some((w) => w.includes("section 1 has 3 implausible fields"))).toBe(true);
      }
    }

    // 0xffff sections: the table ends where pefile ends it, not 96 entries of code read as headers.
    const many = Uint8Array.from(buf);
    new DataView(many.buffer).setUint16(pe + 6, 0xffff, true);
    writeFileSync(join(dir, "many.exe"), many);
    const b = parsePe(many);
    const refB = await pefileFacts(join(dir, "many.exe"));
    const [b1, b2] = names(b.pe_sections, refB.sections);
    expect(b1).toEqual(b2!);
    expect(b.pe_sections.length).toBeLessThan(40);
  });

  test("truncated and hostile headers give FormatError or warnings, never a crash", async () => {
    expect(() => parsePe(new Uint8Array(10))).toThrow(FormatError);
    expect(s.pe64).toBeDefined();
    const buf = await Bun.file(s.pe64!).bytes();
    for (const cut of [0x50, 0x100, 0x200, 0x400, 4096, buf.length >> 1]) {
      try {
        parsePe(buf.subarray(0, cut));
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
      }
    }
    // An import directory pointing at itself forever is bounded.
    const evil = Uint8Array.from(buf);
    const v = new DataView(evil.buffer);
    const opt = v.getUint32(0x3c, true) + 24;
    v.setUint32(opt + 112 + 8, 0x7ffffff0, true);
    expect(parsePe(evil).pe_imports).toEqual([]);
  });
});
