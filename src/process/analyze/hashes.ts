/** md5, sha1, sha256 and sha512 in one pass: of bytes in memory, or of a file streamed through one buffer (hash-thread.ts spreads them over threads). */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { sha512Hasher } from "./libcrypto.ts";

export interface Hashes {
  md5: string;
  sha1: string;
  sha256: string;
  sha512: string;
}

/** The four digests over the same bytes, each hasher fed whole chunks (sha512 via libcrypto.ts when it loads). */
export class MultiHasher {
  private readonly md5 = new Bun.CryptoHasher("md5");
  private readonly sha1 = new Bun.CryptoHasher("sha1");
  private readonly sha256 = new Bun.CryptoHasher("sha256");
  private readonly sha512 = sha512Hasher();
  update(chunk: Uint8Array): void {
    this.md5.update(chunk);
    this.sha1.update(chunk);
    this.sha256.update(chunk);
    this.sha512.update(chunk);
  }
  digest(): Hashes {
    return { md5: this.md5.digest("hex"), sha1: this.sha1.digest("hex"), sha256: this.sha256.digest("hex"), sha512: this.sha512.digestHex() };
  }
}

export function hashBytes(buf: Uint8Array): Hashes {
  const h = new MultiHasher();
  h.update(buf);
  return h.digest();
}

const CHUNK = 4 * 1024 * 1024;

/**
 * Hash a file streaming through one reusable buffer; `onChunk` sees every chunk with its offset
 * (type detection peeks at the head that way without a second read).
 */
export function hashFile(path: string, onChunk?: (chunk: Uint8Array, offset: number) => void, signal?: AbortSignal): Hashes & { size: number } {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const h = new MultiHasher();
    const buf = new Uint8Array(Math.min(CHUNK, Math.max(size, 1)));
    let off = 0;
    for (;;) {
      signal?.throwIfAborted();
      const n = readSync(fd, buf, 0, buf.length, off);
      if (n <= 0) break;
      const chunk = buf.subarray(0, n);
      h.update(chunk);
      onChunk?.(chunk, off);
      off += n;
    }
    return { ...h.digest(), size: off };
  } finally {
    closeSync(fd);
  }
}
