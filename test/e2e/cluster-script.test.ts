import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { describeUnless, isRoot } from "../skip.ts";

// README, "Several machines": `scripts/cluster run [--node N] -- CMD` runs one command there and tears it down;
// nothing leaves the namespaces. The command run here proves where it ran (the node's address, the cluster's
// queue with every worker node registered), that its exit code comes back, and that nothing stays behind.
const REPO = resolve(import.meta.dir, "../..");
const SCRIPT = resolve(REPO, "scripts/cluster");
const FALC = resolve(REPO, "dist/falc");

const netns = () =>
  Bun.spawnSync(["ip", "netns", "list"], { stdout: "pipe" })
    .stdout.toString()
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith("fc"));

describe("scripts/cluster usage", () => {
  test("an unknown verb, or run without a command, is one usage line and exit 2", () => {
    for (const argv of [["frobnicate"], ["run", "--node", "w1", "--"]]) {
      const r = Bun.spawnSync([SCRIPT, ...argv], { stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toString().trim().split("\n")).toHaveLength(1);
    }
  });
});

describeUnless(isRoot, "not root")("scripts/cluster run", () => {
  test("runs the command on the named node with the cluster's queue, returns its exit code, leaves nothing behind", () => {
    const before = netns();
    const cmd = `ip -4 -o addr show dev eth0; echo "queue=$FALC_QUEUE"; echo "workers:"; ${FALC} tasks workers --json; exit 7`;
    const r = Bun.spawnSync([SCRIPT, "run", "--node", "w2", "--", "sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString();
    expect(r.exitCode, r.stderr.toString()).toBe(7);
    // w2 is 10.214.T.12 on the cluster's bridge (test/cluster/cluster.ts), and only that.
    expect(out).toMatch(/inet 10\.214\.\d+\.12\/24/);
    const subnet = /queue=redis:\/\/(10\.214\.\d+)\.2:6379/.exec(out)?.[1];
    expect(subnet).toBeDefined();
    const doc = JSON.parse(out.slice(out.indexOf("workers:\n") + "workers:\n".length));
    const hosts = ((doc.workers ?? doc) as { kind: string; host: string }[]).filter((w) => w.kind === "handler").map((w) => w.host);
    expect(hosts.sort()).toEqual(["w1", "w2", "w3"]);
    // Torn down: no namespace of its own left, and no process of it left (redis-server, falc nodes).
    expect(netns().filter((n) => !before.includes(n))).toEqual([]);
    const ip = subnet!.replaceAll(".", "\\.");
    const left = Bun.spawnSync(["pgrep", "-f", `redis-server --bind ${ip}\\.|sync master --listen ${ip}\\.`], { stdout: "pipe" }).stdout.toString().trim();
    expect(left).toBe("");
  }, 180_000);
});
