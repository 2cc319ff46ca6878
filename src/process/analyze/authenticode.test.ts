/**
 * Authenticode on Debian's signed EFI binaries (shim-signed: two WIN_CERTIFICATE entries, Microsoft's;
 * grub-efi-amd64-signed: Debian's), fetched with apt-get download. References: `openssl pkcs7
 * -print_certs` and `openssl x509` for the certificates, `osslsigncode verify` for the digests (it reads one
 * entry only, so it checks the single-signature files). EFI images are typed uefi and not "without imports".
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, sampleDir } from "../../../test/process/samples.ts";
import { bufferSource } from "./bytes.ts";
import { detectType } from "./filetype.ts";
import { parsePe } from "./pe.ts";
import { staticSignatures } from "./signatures.ts";
import { extractStrings } from "./strings.ts";

let dir: string;
let efis: string[];

beforeAll(async () => {
  dir = join(sampleDir(), "efi");
  mkdirSync(dir, { recursive: true });
  await run(["apt-get", "download", "-q", "shim-signed", "grub-efi-amd64-signed"], dir);
  for (const deb of readdirSync(dir).filter((n) => n.endsWith(".deb"))) await run(["dpkg-deb", "-x", join(dir, deb), join(dir, "x")]);
  efis = (await run(["find", join(dir, "x"), "-name", "*.efi.signed", "-type", "f"])).trim().split("\n").sort();
}, 180_000);

/** The certificate table's entries as raw PKCS#7 blobs, read the plain way (data directory 4 is a file offset). */
function blobs(buf: Buffer): Buffer[] {
  const pe = buf.readUInt32LE(0x3c);
  const oh = pe + 24;
  const dd = oh + (buf.readUInt16LE(oh) === 0x20b ? 112 : 96);
  const off = buf.readUInt32LE(dd + 32);
  const size = buf.readUInt32LE(dd + 36);
  const out: Buffer[] = [];
  for (let p = off; p + 8 <= off + size; ) {
    const len = buf.readUInt32LE(p);
    out.push(buf.subarray(p + 8, p + len));
    p += (len + 7) & ~7;
  }
  return out;
}

async function opensslCerts(blob: Buffer, tag: string): Promise<{ serial: string; sha1: string; sha256: string; subject: string }[]> {
  const der = join(dir, `${tag}.p7`);
  writeFileSync(der, blob);
  const pem = await run(["openssl", "pkcs7", "-inform", "DER", "-in", der, "-print_certs"]);
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const out = [];
  for (const [i, c] of certs.entries()) {
    const f = join(dir, `${tag}-${i}.pem`);
    writeFileSync(f, c);
    const x = await run(["openssl", "x509", "-in", f, "-noout", "-serial", "-fingerprint", "-sha1", "-subject", "-nameopt", "sep_comma_plus_space"]);
    const x256 = await run(["openssl", "x509", "-in", f, "-noout", "-fingerprint", "-sha256"]);
    out.push({
      serial: /serial=(\w+)/.exec(x)![1]!,
      sha1: /Fingerprint=([\w:]+)/.exec(x)![1]!.replace(/:/g, "").toLowerCase(),
      sha256: /Fingerprint=([\w:]+)/.exec(x256)![1]!.replace(/:/g, "").toLowerCase(),
      subject: /subject=(.*)/.exec(x)![1]!.trim(),
    });
  }
  return out;
}

describe("Authenticode on Debian's signed EFI binaries", () => {
  test("every WIN_CERTIFICATE: certificates as openssl reads them, the signer among them, the digest matching the file", async () => {
    expect(efis.length).toBeGreaterThanOrEqual(4);
    let two = 0;
    for (const f of efis) {
      const buf = readFileSync(f);
      const pe = parsePe(new Uint8Array(buf));
      const raw = blobs(buf);
      expect(pe.pe_signatures).toHaveLength(raw.length);
      if (raw.length === 2) two++;
      for (const [i, s] of pe.pe_signatures.entries()) {
        const ref = await opensslCerts(raw[i]!, `${f.split("/").pop()}-${i}`);
        expect(s.certificates.map((c) => ({ serial: c.serial, sha1: c.sha1, sha256: c.sha256 }))).toEqual(ref.map(({ serial, sha1, sha256 }) => ({ serial, sha1, sha256 })));
        expect(s.certificates.map((c) => c.subject)).toEqual(ref.map((r) => r.subject));
        expect(s).toMatchObject({ type: 2, digest_algorithm: "sha256", digest_matches: true });
        expect(s.signer).not.toBeNull();
        expect(s.certificates).toContainEqual(s.signer!);
        expect(Date.parse(s.signer!.not_after)).toBeGreaterThan(Date.parse(s.signer!.not_before));
      }
      if (raw.length === 1) {
        const v = await run(["sh", "-c", `osslsigncode verify -in '${f}' 2>&1; true`]);
        expect(pe.pe_signatures[0]!.signed_digest!.toUpperCase()).toBe(/Current message digest\s*:\s*(\w+)/.exec(v)![1]);
        expect(pe.pe_signatures[0]!.file_digest!.toUpperCase()).toBe(/Calculated message digest\s*:\s*(\w+)/.exec(v)![1]);
      }
    }
    // URLs in the certificates (CRL, issuer, CPS) end where their DER strings end: openssl's URIs exactly.
    const shim = efis.find((p) => p.includes("shimx64"))!;
    const urls = extractStrings(new Uint8Array(readFileSync(shim))).iocs.urls;
    const uris = new Set<string>();
    for (const blob of blobs(readFileSync(shim))) {
      writeFileSync(join(dir, "u.p7"), blob);
      const text = await run(["openssl", "pkcs7", "-inform", "DER", "-in", join(dir, "u.p7"), "-print_certs", "-text", "-noout"]);
      for (const m of text.matchAll(/URI:(\S+)/g)) uris.add(m[1]!);
    }
    expect(uris.size).toBeGreaterThan(0);
    for (const u of uris) expect(urls).toContain(u);
    expect(urls.filter((u) => /\.(crl|crt)0$|secure-boot-ca0$/.test(u))).toEqual([]);
    // shim carries two signatures (Microsoft's 2011 and 2023 UEFI CAs): both read, both over the same digest.
    expect(two).toBeGreaterThanOrEqual(1);
  }, 120_000);

  test("a changed byte in the code: the digest no longer matches, the signers are still listed", () => {
    const f = efis.find((p) => p.includes("shimx64"))!;
    const buf = Buffer.from(readFileSync(f));
    const pe0 = parsePe(new Uint8Array(buf));
    const text = pe0.pe_sections.find((s) => s.name === ".text")!;
    buf[Number(text.pointer_to_raw_data) + 100] ^= 0xff;
    const pe = parsePe(new Uint8Array(buf));
    expect(pe.pe_signatures.map((s) => s.digest_matches)).toEqual(pe0.pe_signatures.map(() => false));
    expect(pe.pe_signatures.map((s) => s.signer?.subject)).toEqual(pe0.pe_signatures.map((s) => s.signer?.subject));
  });

  test("EFI applications run on uefi, not windows, and have no imports without it meaning anything", () => {
    for (const f of efis) {
      const buf = new Uint8Array(readFileSync(f));
      const t = detectType(bufferSource(buf), f.split("/").pop(), f);
      expect(t).toMatchObject({ kind: "pe", extension: "efi", platforms: [{ platform: "uefi", os_version: "" }] });
      const pe = parsePe(buf);
      expect(pe.pe_imports).toEqual([]);
      expect(staticSignatures({ static: { pe } }).map((s) => s.name)).not.toContain("pe_no_imports");
    }
  });
});
