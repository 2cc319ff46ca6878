/**
 * Mutated samples through every parser: whatever the bytes, a parser returns or throws FormatError,
 * never another exception, and never runs away (each case's CPU time is bounded).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { isRoot, skipUnless } from "../../../test/skip.ts";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError, bufferSource } from "./bytes.ts";
import { parseElf } from "./elf.ts";
import { detectType } from "./filetype.ts";
import { sharedCapture } from "../../../test/process/netsample.ts";
import { analyzeCapture } from "./network.ts";
import { parsePe } from "./pe.ts";
import { parseClientHello, parseDns, parseHttpRequests } from "./protocols.ts";
import { type Samples, run, sampleDir, samples, writeOoxml, writePdf, writeZip } from "../../../test/process/samples.ts";
import { extractStrings } from "./strings.ts";
import { unpack } from "./libarchive.ts";
import { unpackMail } from "./mail.ts";
import { makeEml } from "../../../test/process/eml.ts";
import { writeMsg } from "../../../test/process/msg.ts";
import { seededRandom } from "../../../test/seeded.ts";

let s: Samples;
let pcap: Uint8Array | undefined;
beforeAll(async () => {
  s = await samples();
  if (isRoot) pcap = await Bun.file((await sharedCapture()).pcap).bytes();
}, 60000);


/** Flips, zeroes, 0xff-fills and truncations, concentrated in the headers where parsers branch. */
function* mutants(base: Uint8Array, count: number, seed: number): Generator<Uint8Array> {
  const r = seededRandom(seed);
  for (let k = 0; k < count; k++) {
    const m = Uint8Array.from(base);
    const edits = 1 + Math.floor(r() * 8);
    for (let e = 0; e < edits; e++) {
      const inHead = r() < 0.7;
      const at = Math.floor(r() * (inHead ? Math.min(m.length, 1024) : m.length));
      const kind = r();
      if (kind < 0.5) m[at] = Math.floor(r() * 256);
      else if (kind < 0.75) m.fill(0xff, at, at + 4);
      else m.fill(0, at, at + 4);
    }
    yield r() < 0.2 ? m.subarray(0, Math.floor(r() * m.length)) : m;
  }
}

/**
 * The case's CPU time, not its wall time, is bounded: the machine's other work stretches wall time (a case
 * took 2.3 s of wall time at load 14), while a parser that runs away burns CPU all the same.
 */
function cpuMs(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

function survives(name: string, f: () => unknown): void {
  const c0 = process.cpuUsage();
  try {
    f();
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`${name}: ${(e as Error).stack}`);
  }
  expect(cpuMs(c0)).toBeLessThan(2000);
}

async function survivesAsync(name: string, f: () => Promise<unknown>): Promise<void> {
  const c0 = process.cpuUsage();
  try {
    await f();
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`${name}: ${(e as Error).stack}`);
  }
  expect(cpuMs(c0)).toBeLessThan(2000);
}

describe("parsers on mutated input", () => {
  test("PE, ELF and file type", async () => {
    const bases = [s.pe64, s.pe32, s.dll, s.elf, s.elfSo].filter((p): p is string => !!p);
    for (const [i, p] of bases.entries()) {
      const base = await Bun.file(p).bytes();
      for (const m of mutants(base, 150, 1000 + i)) {
        survives("detectType", () => detectType(bufferSource(m)));
        survives("parsePe", () => parsePe(m));
        survives("parseElf", () => parseElf(m));
        survives("strings", () => extractStrings(m.subarray(0, 65536)));
      }
    }
  }, 120_000);

  test("zip, OOXML, PDF, tar.gz and 7z through libarchive", async () => {
    const dir = join(sampleDir(), "fuzz-archives");
    mkdirSync(join(dir, "t"), { recursive: true });
    writeFileSync(join(dir, "t/a.txt"), "hello ".repeat(100));
    await run(["bsdtar", "-czf", join(dir, "a.tgz"), "-C", dir, "t"]);
    await run(["7zz", "a", join(dir, "a.7z"), join(dir, "t")]);
    const bases = [
      writeZip([{ name: "a.txt", data: "hello ".repeat(100) }, { name: "b.bin", data: new Uint8Array(3000).fill(7), method: 0 }]),
      writeOoxml("docx"),
      writePdf(),
      readFileSync(join(dir, "a.tgz")),
      readFileSync(join(dir, "a.7z")),
    ];
    for (const [i, base] of bases.entries()) {
      for (const m of mutants(base, 300, 2000 + i)) {
        survives("detectType", () => detectType(bufferSource(m)));
        survives("unpack", () => unpack({ bytes: m }, { passwords: ["infected"] }));
      }
    }
  }, 120_000);

  test("mail: .eml through postal-mime and .msg through msgreader (behind the compound file check)", async () => {
    const r = seededRandom(4000);
    const eml = Buffer.from(makeEml(r).eml);
    const msg = writeMsg({ subject: "s", body: "b", attachments: [{ name: "a.bin", data: new Uint8Array(6000).fill(1) }, { name: "b.txt", data: Buffer.from("hi") }], embedded: [{ subject: "in", body: "x", attachments: [{ name: "c", data: Buffer.from("c") }] }] });
    for (const m of mutants(eml, 150, 4001)) await survivesAsync("eml", () => unpackMail(m, "eml"));
    for (const m of mutants(msg, 600, 4002)) await survivesAsync("msg", () => unpackMail(m, "msg"));
  }, 120_000);

  skipUnless(isRoot, "not root")("captures and protocol parsers", () => {
    expect(pcap).toBeDefined();
    for (const m of mutants(pcap!, 200, 3000)) survives("analyzeCapture", () => analyzeCapture(m, { dnsPorts: [53] }));
    const r = seededRandom(7);
    for (let k = 0; k < 2000; k++) {
      const junk = Uint8Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256));
      if (junk.length > 1 && r() < 0.5) junk[0] = 22;
      if (junk.length > 2 && r() < 0.5) junk[1] = 3;
      survives("dns", () => parseDns(junk));
      survives("tls", () => parseClientHello(junk));
      survives("http", () => parseHttpRequests(junk));
    }
  });
});
