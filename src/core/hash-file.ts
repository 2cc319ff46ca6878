import { closeSync, openSync, readSync } from "node:fs";

/**
 * The one streaming file hasher: every requested digest in one read of the file, in 1 MiB chunks.
 * Names are Bun.CryptoHasher's (md5, sha1, sha256, sha512, blake2b256, …); digests are lower-case hex.
 */
export type HashAlgorithm = "md5" | "sha1" | "sha256" | "sha512" | "blake2b256" | "blake2b512";

const CHUNK = 1 << 20;

export interface HashFileOptions {
  /** Sees each chunk (a view valid only during the call) and its offset, e.g. to scan while hashing. */
  onChunk?: (chunk: Uint8Array, offset: number) => void;
  signal?: AbortSignal;
}

export function hashFile<A extends HashAlgorithm>(path: string, algos: readonly A[], opts: HashFileOptions = {}): { size: number } & Record<A, string> {
  const hashers = algos.map((a) => new Bun.CryptoHasher(a));
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, "r");
  let size = 0;
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n <= 0) break;
      const view = buf.subarray(0, n);
      for (const h of hashers) h.update(view);
      opts.onChunk?.(view, size);
      size += n;
    }
  } finally {
    closeSync(fd);
  }
  const out = { size } as { size: number } & Record<A, string>;
  algos.forEach((a, i) => {
    (out as Record<string, string | number>)[a] = hashers[i]!.digest("hex");
  });
  return out;
}

/** Digests of bytes already in memory, with the same names. */
export function hashBytes<A extends HashAlgorithm>(data: Uint8Array, algos: readonly A[]): Record<A, string> {
  const out = {} as Record<A, string>;
  for (const a of algos) out[a] = new Bun.CryptoHasher(a).update(data).digest("hex");
  return out;
}
