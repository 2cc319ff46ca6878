import { closeSync, openSync, readSync } from "node:fs";

export type HashName = "md5" | "sha1" | "sha256" | "sha512";

const CHUNK = 1 << 22;
let shared: Buffer | null = null;

/** Hash a file in one read pass with several algorithms (hex digests) and return its size. */
export function hashFile<A extends HashName>(path: string, algos: readonly A[]): { size: number } & Record<A, string> {
  const fd = openSync(path, "r");
  try {
    return hashFd(fd, algos);
  } finally {
    closeSync(fd);
  }
}

/** The same on an open file, from its current offset (the caller keeps the descriptor). */
export function hashFd<A extends HashName>(fd: number, algos: readonly A[]): { size: number } & Record<A, string> {
  const hashers = algos.map((a) => new Bun.CryptoHasher(a));
  // One buffer per process: hashing is synchronous, so it is never in use twice.
  const buf = (shared ??= Buffer.allocUnsafe(CHUNK));
  let size = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, null);
    if (n === 0) break;
    size += n;
    const view = buf.subarray(0, n);
    for (const h of hashers) h.update(view);
  }
  const out = { size } as { size: number } & Record<A, string>;
  algos.forEach((a, i) => ((out as Record<string, unknown>)[a] = hashers[i]!.digest("hex")));
  return out;
}
