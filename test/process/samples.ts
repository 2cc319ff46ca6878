/**
 * Test samples built from source on the spot (never opaque binaries in the repo): ELF with gcc, PE with
 * the mingw cross compilers (+ windres resources, a DLL with exports, ordinal imports through dlltool),
 * zips with `zip -P`, and a PDF, an OOXML document and odd zips written here.
 * Built once per test process into a temp dir that is removed at exit.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";

export async function run(argv: string[], cwd?: string): Promise<string> {
  const p = Bun.spawn(argv, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err.slice(0, 2000)}`);
  return out;
}

let tempRoot: string | undefined;
export function sampleDir(): string {
  if (!tempRoot) {
    tempRoot = mkdtempSync(join(tmpdir(), "falc-samples-"));
    const dir = tempRoot;
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return tempRoot;
}

export const SAMPLE_URL = "http://falc-test.example.com/gate.php?id=42";
export const SAMPLE_PE_URL = "https://evil.example.org/payload.bin";

const ELF_C = `
#include <stdio.h>
const char *c2 = "${SAMPLE_URL}";
const char *mail = "ops@falc-test.example.com";
__attribute__((visibility("default"))) int falc_export(int x) { return x * 2 + 1; }
int main(int argc, char **argv) { printf("%s %s %d\\n", c2, mail, falc_export(argc)); return 0; }
`;

const PE_C = `
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
const char *url = "${SAMPLE_PE_URL}";
const wchar_t *runkey = L"Software\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Run";
const char *hkey = "HKEY_LOCAL_MACHINE\\\\SYSTEM\\\\CurrentControlSet\\\\Services\\\\falcsvc";
int main(int argc, char **argv) {
  WSADATA w;
  WSAStartup(MAKEWORD(2, 2), &w);
  HANDLE p = OpenProcess(PROCESS_ALL_ACCESS, FALSE, (DWORD)argc);
  LPVOID m = VirtualAllocEx(p, NULL, 4096, MEM_COMMIT, PAGE_EXECUTE_READWRITE);
  WriteProcessMemory(p, m, url, 10, NULL);
  CreateRemoteThread(p, NULL, 0, (LPTHREAD_START_ROUTINE)m, NULL, 0, NULL);
  HKEY k;
  RegOpenKeyExW(HKEY_CURRENT_USER, runkey, 0, KEY_SET_VALUE, &k);
  MessageBoxA(NULL, url, hkey, 0);
  printf("%p\\n", m);
  return 0;
}
`;

const PE_RC = `
1 VERSIONINFO
FILEVERSION 1,2,3,4
PRODUCTVERSION 1,2,3,4
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904B0"
    BEGIN
      VALUE "CompanyName", "falc test"
      VALUE "FileDescription", "falc fixture"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
FALCDATA RCDATA { "falc resource data ", "ABCDABCDABCD" }
`;

const DLL_C = `
#include <windows.h>
__declspec(dllexport) int falc_add(int a, int b) { return a + b; }
__declspec(dllexport) int falc_mul(int a, int b) { return a * b; }
__declspec(dllexport) const char *falc_name(void) { return "falc"; }
BOOL WINAPI DllMain(HINSTANCE h, DWORD r, LPVOID x) { return TRUE; }
`;

// Imports accept/bind/WSAStartup by ordinal only: the imphash must resolve them to names as pefile does.
const ORD_DEF = `LIBRARY ws2_32.dll
EXPORTS
accept @1 NONAME
bind @2 NONAME
WSAStartup @115 NONAME
`;
const ORD_C = `
#include <winsock2.h>
int main(void) { WSADATA w; WSAStartup(0x202, &w); bind(0, 0, 0); accept(0, 0, 0); return 0; }
`;

export interface Samples {
  dir: string;
  elf?: string;
  elfSo?: string;
  pe64?: string;
  pe32?: string;
  dll?: string;
  peOrdinals?: string;
}

let built: Promise<Samples> | undefined;

/** Builds every sample; a missing compiler fails the build (scripts/setup installs them), never a skip. */
export function samples(): Promise<Samples> {
  built ??= buildSamples();
  return built;
}

async function buildSamples(): Promise<Samples> {
  const dir = join(sampleDir(), "bin");
  mkdirSync(dir, { recursive: true });
  const s: Samples = { dir };
  for (const [name, text] of [["hello.c", ELF_C], ["pe.c", PE_C], ["pe.rc", PE_RC], ["dll.c", DLL_C], ["ord.def", ORD_DEF], ["ord.c", ORD_C]]) writeFileSync(join(dir, name!), text!);
  const jobs: Promise<void>[] = [];
  {
    jobs.push(run(["gcc", "-O1", "-rdynamic", "-o", "hello", "hello.c"], dir).then(() => { s.elf = join(dir, "hello"); }));
    jobs.push(run(["gcc", "-O1", "-shared", "-fPIC", "-o", "libfalc.so", "hello.c"], dir).then(() => { s.elfSo = join(dir, "libfalc.so"); }));
  }
  {
    jobs.push(
      (async () => {
        await run(["x86_64-w64-mingw32-windres", "pe.rc", "-O", "coff", "-o", "pe64.res.o"], dir);
        await run(["x86_64-w64-mingw32-gcc", "-O1", "-o", "sample64.exe", "pe.c", "pe64.res.o", "-lws2_32"], dir);
        s.pe64 = join(dir, "sample64.exe");
      })(),
    );
    jobs.push(run(["x86_64-w64-mingw32-gcc", "-O1", "-shared", "-o", "falc.dll", "dll.c"], dir).then(() => { s.dll = join(dir, "falc.dll"); }));
    jobs.push(
      (async () => {
        await run(["x86_64-w64-mingw32-dlltool", "-d", "ord.def", "-l", "libws2ord.a"], dir);
        await run(["x86_64-w64-mingw32-gcc", "-O1", "-o", "ordinals.exe", "ord.c", "-L.", "-lws2ord"], dir);
        s.peOrdinals = join(dir, "ordinals.exe");
      })(),
    );
  }
  {
    jobs.push(
      (async () => {
        await run(["i686-w64-mingw32-windres", "pe.rc", "-O", "coff", "-o", "pe32.res.o"], dir);
        await run(["i686-w64-mingw32-gcc", "-O1", "-mwindows", "-o", "sample32.exe", "pe.c", "pe32.res.o", "-lws2_32"], dir);
        s.pe32 = join(dir, "sample32.exe");
      })(),
    );
  }
  await Promise.all(jobs);
  return s;
}

// --- files written here ---

export interface ZipInput {
  name: string;
  data: Uint8Array | string;
  /** 0 stored, 8 deflate (default). */
  method?: 0 | 8;
  /** Marks the entry WinZip-AES encrypted (method 99 + 0x9901 extra); the data is left as is. */
  aes?: boolean;
  /** Lie about the uncompressed size (zip-bomb tests). */
  declaredSize?: number;
}

/** A small zip writer for odd archives the zip tool will not make (AES headers, lying sizes). */
export function writeZip(entries: ZipInput[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const raw = typeof e.data === "string" ? new TextEncoder().encode(e.data) : e.data;
    const method = e.method ?? 8;
    const body = method === 8 ? new Uint8Array(deflateRawSync(raw)) : raw;
    const name = new TextEncoder().encode(e.name);
    const crc = Bun.hash.crc32(raw) >>> 0;
    const extra = e.aes ? Uint8Array.from([0x01, 0x99, 7, 0, 2, 0, 0x41, 0x45, 3, method, 0]) : new Uint8Array(0);
    const flags = 0x800 | (e.aes ? 1 : 0);
    const m = e.aes ? 99 : method;
    const size = e.declaredSize ?? raw.length;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(flags, 6);
    lh.writeUInt16LE(m, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(size, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(extra.length, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(0x031e, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(flags, 8);
    cd.writeUInt16LE(m, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(extra.length, 30);
    cd.writeUInt32LE(offset, 42);
    parts.push(lh, name, extra, body);
    central.push(cd, name, extra);
    offset += lh.length + name.length + extra.length + body.length;
  }
  const cdSize = central.reduce((n, b) => n + b.length, 0);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdSize, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, eocd]);
}

export const PDF_URL = "http://pdf.falc-test.example.net/landing";

/** A small valid PDF (xref offsets computed) with a URI link and a JavaScript open action. */
export function writePdf(): Uint8Array {
  const objs = [
    "<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [5 0 R] >>",
    "<< /S /JavaScript /JS (app.alert\\('falc'\\);) >>",
    `<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /A << /S /URI /URI (${PDF_URL}) >> >>`,
  ];
  let out = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out, "latin1"));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, "latin1");
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

const CT_MAIN: Record<"docx" | "docm" | "xlsx" | "pptx", [string, string]> = {
  docx: ["word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"],
  docm: ["word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"],
  xlsx: ["xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"],
  pptx: ["ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"],
};

/** A minimal OOXML package of the given kind; its main part carries `text`. */
export function writeOoxml(kind: keyof typeof CT_MAIN, text = "falc test document"): Uint8Array {
  const [part, ct] = CT_MAIN[kind];
  const types = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/${part}" ContentType="${ct}"/></Types>`;
  const rels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="${part}"/></Relationships>`;
  const body = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><root><t>${text}</t></root>`;
  const entries: ZipInput[] = [
    { name: "[Content_Types].xml", data: types },
    { name: "_rels/.rels", data: rels },
    { name: part, data: body },
  ];
  if (kind === "docm") entries.push({ name: "word/vbaProject.bin", data: "not really a vba project" });
  return writeZip(entries);
}

/** `zip -P password -j out.zip files...` in `cwd`; returns the archive's path. */
export async function zipWithPassword(out: string, files: string[], password?: string): Promise<string> {
  await run(["zip", "-q", "-j", ...(password ? ["-P", password] : []), out, ...files]);
  return out;
}
