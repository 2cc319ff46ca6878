import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { waitMirrored } from "./sync-helpers.ts";
import { syncSuite } from "../sync/harness.ts";

// 500 unauthenticated sockets (half idle, half slow-loris dribbling a byte at a time), reconnecting
// as soon as they are cut, from ten loopback addresses, against a master with 3 workers: the
// workers keep syncing, and a worker that joins in the middle of it gets in.
const S = syncSuite("falc-e2e-sync-flood-");
const socks = new Set<Socket>();
let attacking = false;
afterAll(() => {
  attacking = false;
  for (const s of socks) s.destroy();
});

const SOCKETS = 500;

/** One hostile socket: connects from `from`, idles or dribbles, and comes back when cut, while `attacking`. */
function hostile(port: number, from: string, loris: boolean, stats: { opened: number }): void {
  if (attacking) open(port, from, loris, stats);
}

function open(port: number, from: string, loris: boolean, stats: { opened: number }): void {
  const s = createConnection({ host: "127.0.0.1", port, localAddress: from });
  socks.add(s);
  stats.opened++;
  let t: ReturnType<typeof setInterval> | null = null;
  s.on("connect", () => {
    // A frame header that promises more bytes than ever come.
    if (loris) t = setInterval(() => s.write(Buffer.from([0x00])), 300);
  });
  const again = () => {
    if (t) clearInterval(t);
    socks.delete(s);
    setTimeout(() => hostile(port, from, loris, stats), 50);
  };
  s.on("close", again);
  s.on("error", () => {});
}

test("500 idle and slow-loris connections: 3 workers keep syncing, a fourth joins", async () => {
  const site = await S.site("f");
  const { base, M, port } = site;
  writeFileSync(join(M, "v.txt"), "version 0\n");
  const master = await S.startMaster(site);
  const worker = (n: number) => S.worker(site, `w${n}`);
  for (const n of [1, 2, 3]) worker(n);
  for (const n of [1, 2, 3]) await waitMirrored(M, join(base, `w${n}`, "tree"), `w${n} mirrors before the flood`);

  attacking = true;
  const stats = { opened: 0 };
  for (let i = 0; i < SOCKETS; i++) hostile(port, `127.0.0.${2 + (i % 10)}`, i % 2 === 1, stats);
  const stopAt = setTimeout(() => (attacking = false), 60_000); // bounded whatever happens
  try {
    await master.waitLog((l) => l.event === "handshakes_evicted", "the master cuts unauthenticated connections");
    for (let round = 1; round <= 3; round++) {
      writeFileSync(join(M, "v.txt"), `version ${round}\n`);
      for (const n of [1, 2, 3]) await waitMirrored(M, join(base, `w${n}`, "tree"), `w${n} syncs change ${round} during the flood`);
    }
    const w4 = worker(4);
    await w4.waitLog((l) => l.event === "worker_connected", "a new worker gets a handshake slot during the flood", 20_000);
    // At the first try: a new connection always gets a slot, and a worker's is not the one cut.
    expect(w4.lines.filter((l) => l.event === "connect_failed" || l.event === "master_refused")).toEqual([]);
    await waitMirrored(M, join(base, "w4", "tree"), "w4 mirrors during the flood");
    expect(stats.opened).toBeGreaterThanOrEqual(SOCKETS);
    expect(socks.size).toBeGreaterThan(SOCKETS / 4); // the flood was still on (sockets cut and reopened come and go)
  } finally {
    clearTimeout(stopAt);
    attacking = false;
    for (const s of socks) s.destroy();
  }
  expect(master.alive()).toBe(true);
}, 120_000);
