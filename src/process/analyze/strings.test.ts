import { beforeAll, describe, expect, test } from "bun:test";
import { extractIocs } from "./iocs.ts";
import { type Samples, SAMPLE_PE_URL, SAMPLE_URL, run, samples } from "../../../test/process/samples.ts";
import { extractStrings, extractStringsParallel, stringsThreadStats } from "./strings.ts";
import { isDomain } from "./tlds.ts";

let s: Samples;
beforeAll(async () => {
  s = await samples();
}, 60000);

const enc = (t: string) => new TextEncoder().encode(t);

describe("strings", () => {
  test("ASCII and UTF-16LE runs, min length, tabs count as printable", () => {
    const wide = Buffer.from("WideString here", "utf16le");
    const buf = Buffer.concat([enc("\x00\x01short\x00abcd\x00long\tenough\xff"), wide, Buffer.from([0, 0, 7]), enc("tail")]);
    const r = extractStrings(buf, { minLength: 5 });
    expect(r.sample).toEqual(["short", "long\tenough", "WideString here"]);
    expect(r.ascii_count).toBe(2);
    expect(r.wide_count).toBe(1);
    expect(r.truncated).toBe(false);
  });

  test("ASCII counts equal GNU strings -a on real binaries; wide strings are found", async () => {
    for (const path of [s.elf!, s.pe64!, "/usr/bin/ls"].filter((p): p is string => !!p)) {
      const buf = await Bun.file(path).bytes();
      const r = extractStrings(buf, { minLength: 6, maxBytes: 1 << 30 });
      const ref = (await run(["strings", "-a", "-n", "6", path])).split("\n").filter((l) => l.length).length;
      expect(r.ascii_count).toBe(ref);
      const refWide = (await run(["strings", "-a", "-n", "6", "-e", "l", path])).split("\n").filter((l) => l.length).length;
      // A wide string right after printable ASCII loses its first character here; counts stay close.
      expect(Math.abs(r.wide_count - refWide)).toBeLessThanOrEqual(Math.max(2, refWide * 0.1));
    }
  });

  test("IOCs from built samples: URLs, domains, e-mail, registry keys (ASCII and wide)", async () => {
    expect(s.elf).toBeDefined();
    {
      const r = extractStrings(await Bun.file(s.elf!).bytes());
      expect(r.iocs.urls).toContain(SAMPLE_URL);
      expect(r.iocs.domains).toContain("falc-test.example.com");
      expect(r.iocs.emails).toContain("ops@falc-test.example.com");
    }
    expect(s.pe64).toBeDefined();
    {
      const r = extractStrings(await Bun.file(s.pe64!).bytes());
      expect(r.iocs.urls).toContain(SAMPLE_PE_URL);
      expect(r.iocs.registry_keys).toContain("Software\\Microsoft\\Windows\\CurrentVersion\\Run");
      expect(r.iocs.registry_keys).toContain("HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\falcsvc");
    }
  });

  test("caps: bytes scanned, sample size, IOC budget", () => {
    const buf = enc(Array.from({ length: 2000 }, (_, i) => `host${i}.example.com\x00`).join(""));
    const r = extractStrings(buf, { maxBytes: 1000, sampleSize: 10, iocCap: 5 });
    expect(r.scanned_bytes).toBe(1000);
    expect(r.truncated).toBe(true);
    expect(r.sample).toHaveLength(10);
    expect(r.iocs.domains).toHaveLength(5);
    const starved = extractStrings(buf, { maxIocChars: 100 });
    expect(starved.truncated).toBe(true);
    expect(starved.iocs.domains.length).toBeLessThan(10);
  });
});

describe("IOCs", () => {
  test("a URL inside DER (certificate URI, IA5String) ends at its encoded length, not at the next tag", () => {
    const url = "http://crl.falc-test.example.com/pki/crl/Falc_CA_2011.crl";
    for (const tag of [0x86, 0x16]) {
      const der = Buffer.concat([Buffer.from([0x30, url.length + 4, 0xa0, url.length + 2, tag, url.length]), Buffer.from(url), Buffer.from("0\x82\x01\x0a0\x0d", "latin1")]);
      expect(extractStrings(new Uint8Array(der)).iocs.urls).toEqual([url]);
    }
    // Outside DER the same text keeps its characters.
    expect(extractStrings(new TextEncoder().encode(` ${url}0 `)).iocs.urls).toEqual([`${url}0`]);
  });


  test("finds the real ones", () => {
    const i = extractIocs(
      "GET http://cdn.evil-domain.com:8080/a/b.php?x=1, then https://10.20.30.40/x and ftp://files.example.org/ ; mail admin@corp.example.co.uk " +
        "beacon 185.220.101.7 and reg 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\updater'\n\"SYSTEM\\CurrentControlSet\\Services\\x\"\n" +
        "also www.google.com. c2.onion.example.ru",
    );
    expect(i.urls).toEqual(["http://cdn.evil-domain.com:8080/a/b.php?x=1", "https://10.20.30.40/x", "ftp://files.example.org/"]);
    expect(i.domains).toEqual(expect.arrayContaining(["cdn.evil-domain.com", "files.example.org", "corp.example.co.uk", "www.google.com", "c2.onion.example.ru"]));
    expect(i.ipv4).toEqual(["10.20.30.40", "185.220.101.7"]);
    expect(i.emails).toEqual(["admin@corp.example.co.uk"]);
    expect(i.registry_keys).toEqual(["HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\updater", "SYSTEM\\CurrentControlSet\\Services\\x"]);
  });

  test("ignores file names, .NET namespaces, versions and code", () => {
    const i = extractIocs("kernel32.dll libc.so.6 setup.py System.IO.File System.Net.WebClient GLIBC_2.2.5 version 1.2.3 obj.method() a.b config.in 999.1.1.1 readme.txt");
    expect(i.domains).toEqual([]);
    expect(i.ipv4).toEqual([]);
    expect(i.urls).toEqual([]);
    expect(isDomain("evil.ru")).toBe(true);
    expect(isDomain("libc.so")).toBe(false);
    expect(isDomain("cdn.example.so")).toBe(true);
    expect(isDomain("archive.zip")).toBe(false);
  });
});

describe("strings on two threads", () => {
  test("a split scan gives exactly the single-thread result", async () => {
    const paths = ["/usr/bin/bash", "/usr/bin/ls", s.pe64!].filter((p): p is string => !!p && Bun.file(p).size > 0);
    for (const path of paths) {
      const bytes = await Bun.file(path).bytes();
      // Repeated to pass the 1 MiB split threshold, in shared memory like the pre stage's buffer.
      const copies = Math.ceil((3 * 1024 * 1024) / bytes.length);
      const shared = new Uint8Array(new SharedArrayBuffer(bytes.length * copies));
      for (let c = 0; c < copies; c++) shared.set(bytes, c * bytes.length);
      const one = extractStrings(shared, { maxIocChars: 1 << 30 });
      const splits = stringsThreadStats.splits;
      const two = await extractStringsParallel(shared, { maxIocChars: 1 << 30, threads: true });
      expect(stringsThreadStats.splits).toBe(splits + 1);
      expect(two).toEqual(one);
      expect(one.ascii_count).toBeGreaterThan(100);
    }
  });
});
