import { readdirSync, readFileSync } from "node:fs";

/** nmap processes whose argv mentions `mark` (a test's own work dir or FALC_HOME: their -oX path lies below it). */
export function nmapPids(mark: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("nmap") && argv.some((a) => a.includes(mark))) out.push(Number(d));
    } catch {}
  }
  return out;
}

/** Poll until `fn` is truthy; throws naming `what` at the deadline. */
export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}
