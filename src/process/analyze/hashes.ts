/** md5, sha1, sha256 and sha512 in one pass: of bytes in memory, or of a file streamed through one buffer (hash-thread.ts spreads them over threads). */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface Hashes {
  md5: string;
  sha1: string;
  sha256: string;
  sha512: string;
}

const ALGOS = ["md5", "sha1", "sha256", "sha512"] as const;

export class MultiHasher {
  private readonly hashers = ALGOS.map((a) => new Bun.CryptoHasher(a));
  update(chunk: Uint8Array): void {
    for (const h of this.hashers) h.update(chunk);
  }
  digest(): Hashes {
    const [md5, sha1, sha256, sha512] = this.hashers.map((h) => h.digest("hex"));
    return { md5: md5!, sha1: sha1!, sha256: sha256!, sha512: sha512! };
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
