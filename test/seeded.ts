// The one seeded random source of the randomized and differential tests: the same sequence for the same
// seed everywhere, so a printed seed replays a failure exactly.

/** mulberry32: small, fast, good enough for test inputs; values in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A test's seed: the environment variable (FALC_SEED unless named) when set, to replay a run, else a fresh one.
 * Printed either way, with the line that replays it.
 */
export function testSeed(what: string, envName = "FALC_SEED"): number {
  const given = process.env[envName];
  const seed = given !== undefined && given !== "" ? Number(given) >>> 0 : Math.floor(Math.random() * 2 ** 31);
  console.log(`${what}: seed ${seed} (${envName}=${seed} replays it)`);
  return seed;
}
