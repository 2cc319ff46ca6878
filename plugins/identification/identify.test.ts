import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Samples, sampleDir, samples, writeOoxml, writePdf, writeZip, zipWithPassword } from "../../test/process/samples.ts";
import { CancelProcessing } from "../../src/process/plugin.ts";
import { type TestContext, loadProcessors, makeContext, runProcessor } from "../../test/process/plugins-testkit.ts";
import factory from "./identify.ts";

let s: Samples;
let dir: string;
beforeAll(async () => {
  s = await samples();
  dir = join(sampleDir(), "identify");
  Bun.spawnSync(["mkdir", "-p", dir]);
}, 60000);

const contexts: TestContext[] = [];
afterEach(() => contexts.splice(0).forEach((c) => c.dispose()));

async function identify(path: string, filename: string, config: Record<string, unknown> = {}, analysisDir?: string) {
  const [p] = await loadProcessors(factory);
  const ctx = makeContext({ stage: "identification", path, filename, config, analysisDir });
  contexts.push(ctx);
  const out = (await runProcessor(p!, ctx)) as Record<string, any>;
  return { out, ctx };
}

describe("identify plugin", () => {
  test("a PE: Cuckoo3's identification fields, hashes equal sha256sum, extension added", async () => {
    expect(s.pe64).toBeDefined();
    const { out, ctx } = await identify(s.pe64!, "invoice");
    expect(out).toMatchObject({ identified: true, selected: true, category: "file", ignored: [] });
    expect(out.target).toMatchObject({
      filename: "invoice.exe",
      orig_filename: "invoice",
      extrpath: [],
      container: false,
      password: "",
      media_type: "application/vnd.microsoft.portable-executable",
      platforms: [{ platform: "windows", os_version: "" }],
    });
    expect(out.target.filetype).toStartWith("PE32+ executable (console) x86-64");
    expect(out.target.size).toBe(Bun.file(s.pe64!).size);
    const ref = new TextDecoder().decode(Bun.spawnSync(["sha256sum", s.pe64!]).stdout).split(" ")[0];
    expect(out.target.sha256).toBe(ref);
    for (const k of ["md5", "sha1", "sha512"]) expect(out.target[k]).toMatch(/^[0-9a-f]+$/);
    expect(ctx.errorList).toEqual([]);
  });

  test("an ELF keeps its name and runs on linux; text is not selected", async () => {
    expect(s.elf).toBeDefined();
    {
      const { out } = await identify(s.elf!, "hello");
      expect(out.target).toMatchObject({ filename: "hello", platforms: [{ platform: "linux", os_version: "" }] });
      expect(out.selected).toBe(true);
    }
    const txt = join(dir, "notes.txt");
    writeFileSync(txt, "just notes\n");
    const { out } = await identify(txt, "notes.txt");
    expect(out).toMatchObject({ identified: false, selected: false });
    expect(out.ignored).toEqual([{ filename: "notes.txt", filetype: "ASCII text", reason: "unsupported file type: text" }]);
  });

  test("zip -P: unpacked with the configured password, the exe selected over the DLL, PDF and text", async () => {
    expect(s.pe64).toBeDefined();
    const pdf = join(dir, "doc.pdf");
    writeFileSync(pdf, writePdf());
    const readme = join(dir, "readme.txt");
    writeFileSync(readme, "open the invoice\n");
    const zip = await zipWithPassword(join(dir, "bundle.zip"), [readme, pdf, s.dll!, s.pe64!], "hunter2");
    const { out, ctx } = await identify(zip, "bundle.zip", { password: "hunter2" });
    expect(out).toMatchObject({ identified: true, selected: true });
    expect(out.target).toMatchObject({ filename: "sample64.exe", extrpath: ["sample64.exe"], container: false, password: "hunter2" });
    const reasons = Object.fromEntries(out.ignored.map((i: { filename: string; reason: string }) => [i.filename, i.reason]));
    expect(reasons["readme.txt"]).toBe("unsupported file type: text");
    expect(reasons["falc.dll"]).toContain("not selected: sample64.exe (pe) is preferred");
    expect(reasons["doc.pdf"]).toContain("not selected");
    expect(out.files.map((f: { filename: string }) => f.filename)).toEqual(["readme.txt", "doc.pdf", "falc.dll", "sample64.exe"]);
    // The entries were written to the run's scratch directory, not next to the sample.
    expect(Bun.spawnSync(["find", ctx.workDir, "-name", "sample64.exe"]).stdout.toString()).toContain(ctx.workDir);
  });

  test("password from the analysis settings, then the default 'infected'; wrong password is reported", async () => {
    expect(s.elf).toBeDefined();
    const zip = await zipWithPassword(join(dir, "settings.zip"), [s.elf!], "from-settings");
    const adir = join(dir, "analysis");
    Bun.spawnSync(["mkdir", "-p", adir]);
    writeFileSync(join(adir, "analysis.json"), JSON.stringify({ settings: { password: "from-settings" } }));
    const viaSettings = await identify(zip, "settings.zip", {}, adir);
    expect(viaSettings.out.target).toMatchObject({ filename: "hello", extrpath: ["hello"], password: "from-settings" });
    const infected = await zipWithPassword(join(dir, "infected.zip"), [s.elf!], "infected");
    expect((await identify(infected, "infected.zip")).out.target.password).toBe("infected");
    const wrong = await identify(zip, "settings.zip");
    expect(wrong.out).toMatchObject({ identified: false, selected: false, target: { container: true, filename: "settings.zip" } });
    expect(wrong.out.ignored[0].reason).toContain("none of the 1 password(s) opens it");
  });

  test("nested zips, OOXML preferred over a script, AES and zip bombs listed as ignored", async () => {
    const inner = writeZip([{ name: "run.ps1", data: "Write-Host hi\nInvoke-Expression $x\n" }, { name: "letter.docx", data: writeOoxml("docx") }]);
    const outer = writeZip([
      { name: "nested/inner.zip", data: inner },
      { name: "locked.exe", data: "MZ", aes: true },
      { name: "bomb.bin", data: new Uint8Array(30 * 1024 * 1024) },
    ]);
    const path = join(dir, "outer.zip");
    writeFileSync(path, outer);
    const { out } = await identify(path, "outer.zip");
    expect(out.target).toMatchObject({ filename: "letter.docx", extrpath: ["nested/inner.zip", "letter.docx"], media_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document" });
    const reasons = out.ignored.map((i: { filename: string; reason: string }) => `${i.filename}: ${i.reason}`);
    expect(reasons).toEqual(
      expect.arrayContaining([
        "locked.exe: encrypted; none of the 1 password(s) opens it",
        expect.stringMatching(/^bomb\.bin: compression ratio \d+:1 is over the limit of 250:1 \(archive bomb\?\)$/),
        expect.stringContaining("nested/inner.zip/run.ps1: not selected"),
      ]),
    );
  });

  test("AES-256 zip (7zz) opens with the configured password; tar.xz, 7z and a deb are unpacked too", async () => {
    expect(s.pe64).toBeDefined();
    const aes = join(dir, "aes.zip");
    Bun.spawnSync(["rm", "-f", aes]);
    expect(Bun.spawnSync(["7zz", "a", "-tzip", "-mem=AES256", "-pS3cret!", aes, s.pe64!]).exitCode).toBe(0);
    const a = await identify(aes, "aes.zip", { password: "S3cret!" });
    expect(a.out.target).toMatchObject({ filename: "sample64.exe", extrpath: ["sample64.exe"], password: "S3cret!", container: false });
    const t = join(dir, "t");
    Bun.spawnSync(["mkdir", "-p", t]);
    Bun.spawnSync(["cp", s.pe64!, join(t, "setup.exe")]);
    writeFileSync(join(t, "readme.txt"), "read me\n");
    for (const [name, argv] of [
      ["a.tar.xz", ["bsdtar", "-cJf", join(dir, "a.tar.xz"), "-C", t, "setup.exe", "readme.txt"]],
      ["a.7z", ["7zz", "a", join(dir, "a.7z"), join(t, "setup.exe"), join(t, "readme.txt")]],
    ] as const) {
      Bun.spawnSync(["rm", "-f", join(dir, name)]);
      expect(Bun.spawnSync([...argv]).exitCode).toBe(0);
      const r = await identify(join(dir, name), name);
      expect(r.out.target).toMatchObject({ filename: "setup.exe", extrpath: ["setup.exe"] });
    }
    // A .deb: ar with data.tar.xz inside: two levels down.
    Bun.spawnSync(["bsdtar", "-cJf", join(dir, "data.tar.xz"), "-C", t, "setup.exe"]);
    writeFileSync(join(dir, "debian-binary"), "2.0\n");
    Bun.spawnSync(["bsdtar", "-cf", join(dir, "x.deb"), "--format", "ar", "-C", dir, "debian-binary", "data.tar.xz"]);
    const d = await identify(join(dir, "x.deb"), "x.deb");
    expect(d.out.target).toMatchObject({ filename: "setup.exe", extrpath: ["data.tar.xz", "setup.exe"] });
  });

  test("plain text is never a script: the Apache-2.0 licence alone, and LICENSE.txt inside a jar", async () => {
    const { out } = await identify("/usr/share/common-licenses/Apache-2.0", "Apache-2.0");
    expect(out.target).toMatchObject({ filename: "Apache-2.0", media_type: "text/plain", filetype: "ASCII text" });
    expect(out.selected).toBe(false);
    const license = await Bun.file("/usr/share/common-licenses/Apache-2.0").text();
    const cls = new Uint8Array(64);
    new DataView(cls.buffer).setUint32(0, 0xcafebabe);
    new DataView(cls.buffer).setUint32(4, 0x00000034);
    const jar = join(dir, "lib.jar");
    writeFileSync(jar, writeZip([{ name: "META-INF/MANIFEST.MF", data: "Manifest-Version: 1.0\r\n" }, { name: "META-INF/LICENSE.txt", data: license }, { name: "LICENSE", data: license }, { name: "a/B.class", data: cls }]));
    const j = await identify(jar, "lib.jar");
    expect(j.out.selected).toBe(false);
    expect(j.out.target.filename).toBe("lib.jar");
    expect(j.out.files.map((f: { filename: string; filetype: string }) => `${f.filename}: ${f.filetype}`)).toEqual([
      "MANIFEST.MF: JAR Manifest, ASCII text, with CRLF line terminators",
      "LICENSE.txt: ASCII text",
      "LICENSE: ASCII text",
      "B.class: compiled Java class data, version 52.0 (Java 1.8)",
    ]);
  });

  test("zip limits come from config; a missing file cancels the stage", async () => {
    const path = join(dir, "many.zip");
    writeFileSync(path, writeZip(Array.from({ length: 12 }, (_, i) => ({ name: `f${i}.txt`, data: "x" }))));
    const { out, ctx } = await identify(path, "many.zip", { max_entries: 10 });
    expect(out).toMatchObject({ selected: false, target: { container: true } });
    expect(ctx.errorList[0]).toBe("identify: many.zip: more than 10 entries: the rest is not unpacked");
    const [p] = await loadProcessors(factory);
    const gone = makeContext({ stage: "identification", path: join(dir, "does-not-exist"), filename: "x" });
    contexts.push(gone);
    const err = (await runProcessor(p!, gone).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(CancelProcessing);
    expect(err.message).toContain("does not exist");
  });
});

describe("identify plugin, files over the in-memory limit", () => {
  test("a 70 MB ELF and a 70 MB zip are streamed (hashes, type, unpacking by positioned reads)", async () => {
    const { hashBytes } = await import("../../src/process/analyze/hashes.ts");
    const elf = await Bun.file(s.elf!).bytes();
    const big = new Uint8Array(70 * 1024 * 1024);
    big.set(elf);
    const bigPath = join(dir, "big-elf");
    writeFileSync(bigPath, big);
    const { out } = await identify(bigPath, "big-elf");
    expect(out.target).toMatchObject({ ...hashBytes(big), size: big.length, filename: "big-elf" });
    expect(out.target.filetype).toStartWith("ELF 64-bit LSB pie executable");
    const zipPath = join(dir, "big.zip");
    writeFileSync(zipPath, writeZip([{ name: "padding.bin", data: new Uint8Array(big.length), method: 0 }, { name: "tool", data: elf }]));
    const z = await identify(zipPath, "big.zip");
    expect(z.out.target).toMatchObject({ filename: "tool", extrpath: ["tool"], sha256: hashBytes(elf).sha256 });
    expect(z.out.ignored.map((i: { filename: string }) => i.filename)).toEqual(["padding.bin"]);
  });
});
