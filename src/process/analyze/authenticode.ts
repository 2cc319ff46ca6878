/**
 * Authenticode: every WIN_CERTIFICATE in a PE's certificate table, its PKCS#7 SignedData read with a small
 * DER walker, its certificates through node:crypto's X509Certificate (subject, issuer, serial, validity,
 * SHA-1/SHA-256 fingerprints), the signer found by issuer and serial, and whether the digest the signature
 * covers (SpcIndirectDataContent's messageDigest) is the file's Authenticode digest. It says nothing of
 * trust (no chain is built): a self-signed signature over the right digest is reported as matching.
 */
import { X509Certificate, createHash } from "node:crypto";
import { FormatError } from "./bytes.ts";

interface Der {
  tag: number;
  /** Offset of the contents in the buffer, and their length. */
  start: number;
  len: number;
  /** Offset of the whole element (tag first) and its end. */
  at: number;
  end: number;
}

function derAt(b: Uint8Array, at: number, limit = b.length): Der {
  if (at + 2 > limit) throw new FormatError("DER: truncated element");
  const tag = b[at]!;
  let p = at + 1;
  let len = b[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new FormatError("DER: unsupported length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
  }
  if (p + len > limit) throw new FormatError("DER: element runs past its parent");
  return { tag, start: p, len, at, end: p + len };
}

function children(b: Uint8Array, d: Der): Der[] {
  const out: Der[] = [];
  for (let p = d.start; p < d.end && out.length < 10_000; ) {
    const c = derAt(b, p, d.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function oid(b: Uint8Array, d: Der): string {
  if (d.tag !== 0x06) throw new FormatError("DER: expected an OID");
  const v = b.subarray(d.start, d.end);
  const parts = [Math.floor(v[0]! / 40), v[0]! % 40];
  let n = 0;
  for (let i = 1; i < v.length; i++) {
    n = n * 128 + (v[i]! & 0x7f);
    if (!(v[i]! & 0x80)) {
      parts.push(n);
      n = 0;
    }
  }
  return parts.join(".");
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const DIGESTS: Record<string, string> = {
  "1.2.840.113549.2.5": "md5",
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const SIGNED_DATA = "1.2.840.113549.1.7.2";

export interface CertInfo {
  subject: string;
  issuer: string;
  /** Hex, as openssl prints it (upper case, no separators). */
  serial: string;
  not_before: string;
  not_after: string;
  sha1: string;
  sha256: string;
}

export interface SignatureInfo {
  /** Position in the certificate table (0 first). */
  index: number;
  revision: number;
  /** WIN_CERT_TYPE_PKCS_SIGNED_DATA (2) is Authenticode; others are listed, not read. */
  type: number;
  digest_algorithm: string | null;
  /** The digest the signature covers (hex). */
  signed_digest: string | null;
  /** The file's own Authenticode digest with that algorithm (hex). */
  file_digest: string | null;
  digest_matches: boolean;
  signer: CertInfo | null;
  certificates: CertInfo[];
  error?: string;
}

function certInfo(der: Uint8Array): CertInfo {
  const c = new X509Certificate(der);
  const colon = (s: string) => s.replace(/:/g, "");
  return {
    subject: c.subject.split("\n").join(", "),
    issuer: c.issuer.split("\n").join(", "),
    serial: c.serialNumber.toUpperCase(),
    not_before: new Date(c.validFrom).toISOString(),
    not_after: new Date(c.validTo).toISOString(),
    sha1: colon(c.fingerprint).toLowerCase(),
    sha256: colon(c.fingerprint256).toLowerCase(),
  };
}

export interface PeLayout {
  /** File offset of the optional header's CheckSum field. */
  checksumOffset: number;
  /** File offset of the certificate table's data-directory entry (8 bytes). */
  certDirOffset: number;
  /** The certificate table (its data-directory entry is a file offset, not an RVA). */
  certTable: { offset: number; size: number };
}

/** The Authenticode digest: the file without its checksum field, certificate directory entry and table. */
export function authenticodeDigest(buf: Uint8Array, l: PeLayout, algorithm: string): string {
  const h = createHash(algorithm);
  const end = l.certTable.size ? Math.min(buf.length, l.certTable.offset) : buf.length;
  h.update(buf.subarray(0, l.checksumOffset));
  h.update(buf.subarray(l.checksumOffset + 4, l.certDirOffset));
  h.update(buf.subarray(l.certDirOffset + 8, end));
  if (l.certTable.size && l.certTable.offset + l.certTable.size < buf.length) h.update(buf.subarray(l.certTable.offset + l.certTable.size));
  return h.digest("hex");
}

function readSignedData(b: Uint8Array): { algorithm: string | null; digest: string | null; certs: Uint8Array[]; signerIssuer: Uint8Array | null; signerSerial: string | null } {
  const ci = derAt(b, 0);
  const [type, wrapped] = children(b, ci);
  if (!type || !wrapped || oid(b, type) !== SIGNED_DATA) throw new FormatError("not a PKCS#7 SignedData");
  const sd = children(b, wrapped)[0];
  if (!sd) throw new FormatError("empty SignedData");
  const parts = children(b, sd);
  // version, digestAlgorithms, contentInfo, [0] certificates?, [1] crls?, signerInfos
  const content = parts[2];
  let algorithm: string | null = null;
  let digest: string | null = null;
  if (content) {
    const [, explicit] = children(b, content);
    const spc = explicit ? children(b, explicit)[0] : undefined;
    const digestInfo = spc ? children(b, spc)[1] : undefined;
    if (digestInfo) {
      const [algId, octets] = children(b, digestInfo);
      const algOid = algId ? children(b, algId)[0] : undefined;
      if (algOid) algorithm = DIGESTS[oid(b, algOid)] ?? oid(b, algOid);
      if (octets?.tag === 0x04) digest = hex(b.subarray(octets.start, octets.end));
    }
  }
  const certs: Uint8Array[] = [];
  let signerIssuer: Uint8Array | null = null;
  let signerSerial: string | null = null;
  for (const p of parts.slice(3)) {
    if (p.tag === 0xa0) for (const c of children(b, p)) if (c.tag === 0x30) certs.push(b.subarray(c.at, c.end));
    if (p.tag === 0x31) {
      const si = children(b, p)[0];
      const ias = si ? children(b, si)[1] : undefined;
      if (ias?.tag === 0x30) {
        const [issuer, serial] = children(b, ias);
        if (issuer && serial) {
          signerIssuer = b.subarray(issuer.at, issuer.end);
          signerSerial = hex(b.subarray(serial.start, serial.end)).replace(/^(00)+(?=.)/, "").toUpperCase();
        }
      }
    }
  }
  return { algorithm, digest, certs, signerIssuer, signerSerial };
}

/** Every entry of the certificate table, read and checked against the file. */
export function readSignatures(buf: Uint8Array, l: PeLayout): SignatureInfo[] {
  const out: SignatureInfo[] = [];
  const { offset, size } = l.certTable;
  if (!size || offset <= 0 || offset >= buf.length) return out;
  const end = Math.min(buf.length, offset + size);
  const digests = new Map<string, string>();
  for (let p = offset, index = 0; p + 8 <= end && index < 64; index++) {
    const dv = new DataView(buf.buffer, buf.byteOffset + p, 8);
    const length = dv.getUint32(0, true);
    const info: SignatureInfo = { index, revision: dv.getUint16(4, true), type: dv.getUint16(6, true), digest_algorithm: null, signed_digest: null, file_digest: null, digest_matches: false, signer: null, certificates: [] };
    out.push(info);
    if (length < 8 || p + length > end) {
      info.error = `WIN_CERTIFICATE ${index}: length ${length} does not fit the table`;
      break;
    }
    if (info.type === 2) {
      try {
        const sd = readSignedData(buf.subarray(p + 8, p + length));
        info.digest_algorithm = sd.algorithm;
        info.signed_digest = sd.digest;
        for (const c of sd.certs) {
          try {
            info.certificates.push(certInfo(c));
          } catch (e) {
            info.error = `a certificate does not parse: ${(e as Error).message}`;
          }
        }
        info.signer = info.certificates.find((c) => c.serial === sd.signerSerial) ?? null;
        if (sd.algorithm && DIGESTS[Object.keys(DIGESTS).find((k) => DIGESTS[k] === sd.algorithm) ?? ""]) {
          const fd = digests.get(sd.algorithm) ?? authenticodeDigest(buf, l, sd.algorithm);
          digests.set(sd.algorithm, fd);
          info.file_digest = fd;
          info.digest_matches = fd === sd.digest;
        }
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        info.error = e.message;
      }
    }
    p += (length + 7) & ~7;
  }
  return out;
}
