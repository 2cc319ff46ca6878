import { afterAll, afterEach, expect, setSystemTime, test } from "bun:test";
import { createServer, type Socket } from "node:net";
import { parseRedisUrl } from "../../src/queue/redis-url.ts";
import { RedisQueue, reconnectDelayMs } from "../../src/queue/redis.ts";
import pino from "pino";
import { startRedis, type RedisServer } from "../redis-server.ts";
import { FALC, freePort, runFalc, tempHome, waitFor, watchFalc } from "./helpers.ts";
import { startUi, type TmuxUi } from "./ui-helpers.ts";
import { TEST_STAGE } from "./worker-helpers.ts";

// The user-visible sentences of the README's "Redis queue" section that no other test holds: URL
// defaults, the reconnect backoff's numbers, how long a one-shot command waits without Redis, the
// password masked in logs and the TUI, and `SMEMBERS falc:_stages`.
const T = tempHome("falc-e2e-readme-redis-");
let redis: RedisServer | null = null;
let ui: TmuxUi | null = null;
const procs: ReturnType<typeof Bun.spawn>[] = [];
afterEach(async () => {
  ui?.stop();
  ui = null;
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await redis?.stop();
  redis = null;
});
afterAll(() => T.cleanup());

/** Run falc; when its first stderr line came and when it exited, in ms from the start (`atLine`: kill it at the line). */
async function timed(args: string[], env: Record<string, string>, atLine = false) {
  const t0 = performance.now();
  const p = Bun.spawn([FALC, ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  let lineMs = -1;
  let err = "";
  for await (const c of p.stderr as ReadableStream<Uint8Array>) {
    err += new TextDecoder().decode(c);
    if (lineMs < 0 && err.includes("\n")) {
      lineMs = performance.now() - t0;
      if (atLine) p.kill("SIGKILL");
    }
  }
  const code = await p.exited;
  return { code, err: err.trim(), lineMs, exitMs: performance.now() - t0 };
}

test("URL defaults: port 6379, db 0, rediss:// is TLS; the password shown as ***", () => {
  expect(parseRedisUrl("redis://10.0.0.1")).toMatchObject({ host: "10.0.0.1", port: 6379, db: 0, tls: false, display: "redis://10.0.0.1:6379/0" });
  expect(parseRedisUrl("rediss://user:pw@h:7000/2")).toMatchObject({ port: 7000, db: 2, tls: true, username: "user", password: "pw", display: "rediss://user:***@h:7000/2" });
  expect(parseRedisUrl("redis://:s3cret@10.0.0.1:6379/2").display).toBe("redis://:***@10.0.0.1:6379/2");
});

test("reconnect backoff: 0.1 s doubling to 5 s, less up to 20 % jitter", () => {
  for (let n = 1; n <= 12; n++) {
    const full = Math.min(100 * 2 ** (n - 1), 5000);
    for (let i = 0; i < 50; i++) {
      const d = reconnectDelayMs(n);
      expect(d).toBeLessThanOrEqual(full);
      expect(d).toBeGreaterThanOrEqual(full * 0.8);
    }
  }
});

test("one-shot commands without Redis: the line after 3 s, exit 1, the process gone with it; a server that never answers is 'no answer'", async () => {
  // Something that accepts connections and never says a word.
  const held: Socket[] = [];
  const silent = createServer((s) => void held.push(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
  const silentPort = (silent.address() as { port: number }).port;
  const refusedPort = await freePort();
  try {
    const [refused, mute] = await Promise.all([
      timed(["tasks", "stats", "--queue", `redis://127.0.0.1:${refusedPort}/0`], { FALC_HOME: T.home }),
      timed(["ui", "--json", "--queue", `redis://:s3cret@127.0.0.1:${silentPort}/0`], { FALC_HOME: T.home }, true),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(`falc: cannot reach the Redis queue at redis://127.0.0.1:${refusedPort}/0: connect ECONNREFUSED 127.0.0.1:${refusedPort}`);
    expect(refused.lineMs).toBeGreaterThan(2_900);
    expect(refused.lineMs).toBeLessThan(4_400);
    // "the process ends with that line": ioredis's 2 s disconnect timer used to keep it alive after it.
    expect(refused.exitMs - refused.lineMs).toBeLessThan(1_000);
    expect(mute.err).toBe(`falc: cannot reach the Redis queue at redis://:***@127.0.0.1:${silentPort}/0: no answer`);
    expect(mute.lineMs).toBeGreaterThan(2_900);
  } finally {
    held.forEach((s) => s.destroy());
    silent.close();
  }
}, 30_000);

test("the password is masked in a worker's log lines and in the TUI; SMEMBERS falc:_stages lists the stages in use", async () => {
  // A worker waiting for a Redis that is not there logs the URL, masked.
  const down = `redis://:s3cret-pw@127.0.0.1:${await freePort()}/0`;
  const w = watchFalc(["worker", "--stage", "teststage", "--stage-path", TEST_STAGE, "--no-tui", "--no-health", "--log-level", "info"], { FALC_HOME: T.home, FALC_QUEUE: down });
  procs.push(w.proc);
  const line = await waitFor(() => w.stderr().split("\n").find((l) => l.includes('"queue_unreachable"')), 10_000, 50, "queue_unreachable");
  expect(line).toContain("redis://:***@127.0.0.1:");
  expect(w.stderr()).not.toContain("s3cret-pw");

  redis = await startRedis();
  expect(Bun.spawnSync(["redis-cli", "-p", String(redis.port), "config", "set", "requirepass", "s3cret-pw"]).stdout.toString()).toContain("OK");
  const url = `redis://:s3cret-pw@127.0.0.1:${redis.port}/0`;
  for (const [stage, extra] of [["noop", []], ["teststage", ["--stage-path", TEST_STAGE]]] as const) {
    const r = await runFalc(["tasks", "submit", stage, "--payload", "{}", ...extra], { env: { FALC_HOME: T.home, FALC_QUEUE: url } });
    expect([r.code, r.stderr]).toEqual([0, ""]);
  }
  const members = Bun.spawnSync(["redis-cli", "-p", String(redis.port), "-a", "s3cret-pw", "--no-auth-warning", "smembers", "falc:_stages"]).stdout.toString();
  expect(members.trim().split("\n").sort()).toEqual(["noop", "teststage"]);

  ui = await startUi(T.home, ["--view", "queues"], { FALC_QUEUE: url });
  const pane = await ui.waitFor(`redis://:***@127.0.0.1:${redis.port}/0`, 15_000, "the masked URL in the TUI");
  expect(pane).not.toContain("s3cret-pw");
}, 40_000);

test("one clock: delays and leases follow the Redis server's time, not the client's", async () => {
  redis = await startRedis();
  const q = new RedisQueue(redis.url(0));
  await q.connect();
  const serverMs = () => {
    const [s, us] = Bun.spawnSync(["redis-cli", "-p", String(redis!.port), "time"]).stdout.toString().trim().split("\n").map(Number);
    return s! * 1000 + Math.floor(us! / 1000);
  };
  try {
    // This client's clock runs two hours ahead (Date only: timers and the server are untouched).
    setSystemTime(Date.now() + 2 * 3600_000);
    const due = await q.enqueue({ stage: "clock", payload: {} });
    const later = await q.enqueue({ stage: "clock", payload: {}, delayMs: 60_000 });
    const t = await q.claim({ stages: ["clock"], worker: "w", leaseMs: 30_000 });
    expect(t?.id).toBe(due.id); // due now by the server's clock, and the delayed one is not
    expect(await q.claim({ stages: ["clock"], worker: "w", leaseMs: 30_000 })).toBeNull();
    const now = serverMs();
    expect(Math.abs(t!.leaseUntil! - (now + 30_000))).toBeLessThan(2_000);
    expect(Math.abs((await q.get(later.id))!.runAt - (now + 60_000))).toBeLessThan(2_000);
  } finally {
    setSystemTime();
    await q.close();
  }
});

test("tested with 7.0, as the README's Limits say", () => {
  const v = Bun.spawnSync(["redis-server", "--version"]).stdout.toString();
  expect(v).toMatch(/v=7\.0\./);
});

test("while Redis stays away a waiting worker says so once, then a reminder a minute apart, never a line per retry", async () => {
  const out: string[] = [];
  const log = pino({ level: "info", base: undefined }, { write: (l: string) => void out.push(l) });
  const lines = () => out.map((l) => JSON.parse(l) as { event: string; msg: string });
  const port = await freePort();
  const q = new RedisQueue(`redis://:s3cret@127.0.0.1:${port}/0`, { persistent: true, log } as never);
  void q.connect().catch(() => {}); // waits for Redis forever (persistent); close() below ends it
  try {
    await waitFor(() => lines().some((l) => l.event === "queue_unreachable"), 10_000, 20, "the first line");
    // Retries go on (0.1 s doubling); over the next 1.5 s of real time, nothing more is said.
    await Bun.sleep(1500); // observing silence over retries, not waiting for a condition
    expect(lines().filter((l) => l.event === "queue_unreachable")).toHaveLength(1);
    // Date only (timers run as they do): a minute later the next failed retry reminds once.
    setSystemTime(Date.now() + 61_000);
    await waitFor(() => lines().filter((l) => l.event === "queue_unreachable").length === 2, 10_000, 20, "the reminder");
    expect(lines()[1]!.msg).toMatch(/^queue redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 still unreachable \(.*ECONNREFUSED.*\); retrying$/);
    expect(out.join("")).not.toContain("s3cret");
  } finally {
    setSystemTime();
    await q.close();
  }
}, 30_000);
