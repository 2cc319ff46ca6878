// falc sync vs an rsync daemon on loopback, same tree, in one run:
//   first sync of 10,000 files / ~200 MB into an empty directory, a no-change check, one changed file.
// falc is timed as `falc sync worker --once` (process start, handshake, status of the worker's tree,
// transfer, verified and fsynced commit) against a running master; rsync as `rsync -a` from `rsync --daemon`.
// Each of --runs rounds does all three steps for both tools, alternating which goes first; the table
// shows medians (and the range), CPU seconds of the timed process, and the machine's load, since
// other jobs share this 2-core machine.
// Trees live on tmpfs (/dev/shm) by default: the shared virtual disk here swings 10x within minutes,
// which would measure the disk, not the sync; --disk puts them in the temp dir instead.
// Then --parallel (10) workers take the whole tree from the one master at once, against as many rsync clients from the
// one daemon (--parallel-runs 3).
// Usage: bun scripts/bench/sync.ts [--files 10000] [--mb 200] [--runs 5] [--parallel 10] [--parallel-runs 3] [--disk]   (uses $FALC_BIN or dist/falc; needs rsync)
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../../src/core/free-port.ts";
import { numArg } from "./args.ts";

const FILES = numArg("--files", 10_000);
const MB = numArg("--mb", 200);
const RUNS = Math.max(1, numArg("--runs", 5));
/** Workers (and rsync clients) syncing at once in the last step; 0 skips it. */
const PAR = Math.max(0, numArg("--parallel", 10));
const PAR_RUNS = Math.max(1, numArg("--parallel-runs", 3));
const FALC = resolve(process.env.FALC_BIN ?? join(import.meta.dir, "../../dist/falc"));

if (!Bun.which("rsync")) {
  console.error("rsync is not installed (bash scripts/setup installs it)");
  process.exit(2);
}

const onDisk = process.argv.includes("--disk") || !existsSync("/dev/shm");
const root = mkdtempSync(join(onDisk ? tmpdir() : "/dev/shm", "falc-bench-sync-"));
const src = join(root, "master");
const words = "alert rule scan host port service open closed filtered version product nmap falc worker stage queue task profile plugin signature".split(" ");

/** Half the files text-like (compresses ~4x), half random bytes (does not compress), in 100 directories. */
function makeTree(): number {
  const mean = (MB * 1024 * 1024) / FILES;
  let total = 0;
  for (let i = 0; i < FILES; i++) {
    const dir = join(src, `d${String(i % 100).padStart(3, "0")}`);
    if (i < 100) mkdirSync(dir, { recursive: true });
    // Sizes from 0.1x to 1.9x the mean, deterministic.
    const size = Math.max(1, Math.round(mean * (0.1 + ((i * 7919) % 1000) / 555)));
    let body: Buffer;
    if (i % 2 === 0) body = randomBytes(size);
    else {
      const parts: string[] = [];
      let n = 0;
      while (n < size) {
        const w = words[(Math.random() * words.length) | 0]! + (Math.random() < 0.1 ? ` ${(Math.random() * 65535) | 0}\n` : " ");
        parts.push(w);
        n += w.length;
      }
      body = Buffer.from(parts.join("")).subarray(0, size);
    }
    writeFileSync(join(dir, `f${i}.dat`), body);
    total += size;
  }
  return total;
}

async function timed(argv: string[], env: Record<string, string> = {}): Promise<{ s: number; cpu: number; out: string; err: string; code: number }> {
  const t0 = performance.now();
  const p = Bun.spawn(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const s = (performance.now() - t0) / 1000;
  const ru = p.resourceUsage();
  const cpu = ru ? (Number(ru.cpuTime.user) + Number(ru.cpuTime.system)) / 1e6 : NaN;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err.slice(0, 500)}`);
  return { s, cpu, out, err, code };
}

function rsyncBytes(stats: string): number {
  const sent = Number(/Total bytes sent: ([\d,]+)/.exec(stats)?.[1]?.replace(/,/g, "") ?? 0);
  const recv = Number(/Total bytes received: ([\d,]+)/.exec(stats)?.[1]?.replace(/,/g, "") ?? 0);
  return sent + recv;
}

const total = makeTree();
console.log(`sync benchmark: ${FILES} files, ${(total / 1e6).toFixed(0)} MB (half random, half text), loopback, trees on ${onDisk ? "disk" : "tmpfs"}`);

// rsync daemon serving the tree.
const rport = await freePort();
const conf = join(root, "rsyncd.conf");
writeFileSync(conf, `use chroot = no\nuid = ${process.getuid!()}\ngid = ${process.getgid!()}\npid file = ${join(root, "rsyncd.pid")}\n[tree]\n  path = ${src}\n  read only = yes\n`);
const rsyncd = Bun.spawn(["rsync", "--daemon", "--no-detach", `--config=${conf}`, `--port=${rport}`, "--address=127.0.0.1"], { stdout: "ignore", stderr: "inherit" });

// falc master serving the same tree (it hashes the tree once at start; not timed, as a running master has).
const fport = await freePort();
const key = join(root, "cluster.key");
writeFileSync(key, randomBytes(32).toString("hex"));
chmodSync(key, 0o600);
const mhome = join(root, "mhome");
const master = Bun.spawn([FALC, "sync", "master", "--listen", `127.0.0.1:${fport}`, "--dir", src, "--key-file", key, "--log-level", "info"], {
  env: { ...process.env, FALC_HOME: mhome },
  stdout: "ignore",
  stderr: "pipe",
});
// A step that throws must not leave the daemon and the master running (nor their trees on tmpfs).
process.on("exit", () => {
  master.kill("SIGKILL");
  rsyncd.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});
const t0 = performance.now();
let mlog = "";
const reader = master.stderr.getReader();
while (!mlog.includes("master_started")) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`master exited: ${mlog}`);
  mlog += new TextDecoder().decode(value);
}
console.log(`  falc master start (hashes the whole tree once): ${((performance.now() - t0) / 1000).toFixed(2)} s`);

const rdest = join(root, "rsync-dest");
const fdest = join(root, "falc-dest");
const whome = join(root, "whome");
const rsync = async () => {
  const r = await timed(["rsync", "-a", "--delete", "--stats", `rsync://127.0.0.1:${rport}/tree/`, `${rdest}/`]);
  return { s: r.s, cpu: r.cpu, bytes: rsyncBytes(r.out) };
};
const falcOnce = async () => {
  const r = await timed([FALC, "sync", "worker", "--once", "--json", "--master", `127.0.0.1:${fport}`, "--dir", fdest, "--key-file", key, "--name", "bench", "--log-level", "warn"], { FALC_HOME: whome });
  const j = JSON.parse(r.out) as { durationMs: number; wireBytes: number; files: number; ok: boolean };
  if (!j.ok) throw new Error(`falc sync failed: ${r.out}`);
  return { s: r.s, cpu: r.cpu, round: j.durationMs / 1000, bytes: j.wireBytes };
};

// Warm the page cache for both the same way.
for (let i = 0; i < 100; i++) for (const f of new Bun.Glob("*").scanSync(join(src, `d${String(i).padStart(3, "0")}`))) readFileSync(join(src, `d${String(i).padStart(3, "0")}`, f));

type Sample = { rs: number; rcpu: number; rbytes: number; fs: number; fcpu: number; fround: number; fbytes: number };
const STEPS = ["first sync", "no change", "one changed file"] as const;
const samples: Record<(typeof STEPS)[number], Sample[]> = { "first sync": [], "no change": [], "one changed file": [] };
const loads: number[] = [loadavg()[0]!];
let changedSize = 0;
async function step(name: (typeof STEPS)[number], falcFirst: boolean) {
  Bun.spawnSync(["sync"]);
  const r = falcFirst ? null : await rsync();
  const f = await falcOnce();
  const r2 = r ?? (await rsync());
  samples[name].push({ rs: r2.s, rcpu: r2.cpu, rbytes: r2.bytes, fs: f.s, fcpu: f.cpu, fround: f.round, fbytes: f.bytes });
}

for (let run = 0; run < RUNS; run++) {
  for (const d of [rdest, fdest, join(root, ".falc-dest.falc-sync"), whome]) rmSync(d, { recursive: true, force: true });
  const falcFirst = run % 2 === 1;
  await step("first sync", falcFirst);
  await step("no change", falcFirst);
  // A file in d042 (index 42 mod 100), another each run; f4242 first with the default 10,000 files.
  const p = join(src, "d042", `f${42 + 100 * ((42 + run) % Math.max(1, Math.floor(FILES / 100)))}.dat`);
  changedSize = readFileSync(p).length;
  writeFileSync(p, randomBytes(changedSize));
  await step("one changed file", falcFirst);
  loads.push(loadavg()[0]!);
}

// Many at once: PAR workers take the whole tree from one master at the same time, against PAR
// rsync clients from one daemon. Wall time from the start of the first to the end of the last.
const parDirs = (tool: string, i: number) => join(root, `par-${tool}${i}`, "tree");
const parClear = () => {
  for (let i = 0; i < PAR; i++) for (const t of ["rsync", "falc"]) rmSync(join(root, `par-${t}${i}`), { recursive: true, force: true });
};
async function parallel(tool: "rsync" | "falc"): Promise<number> {
  Bun.spawnSync(["sync"]);
  const t = performance.now();
  await Promise.all(
    Array.from({ length: PAR }, async (_, i) => {
      if (tool === "rsync") return mkdirSync(join(root, `par-rsync${i}`), { recursive: true }), timed(["rsync", "-a", "--delete", `rsync://127.0.0.1:${rport}/tree/`, `${parDirs("rsync", i)}/`]);
      mkdirSync(join(root, `par-falc${i}`), { recursive: true });
      const r = await timed([FALC, "sync", "worker", "--once", "--json", "--master", `127.0.0.1:${fport}`, "--dir", parDirs("falc", i), "--key-file", key, "--name", `par${i}`, "--log-level", "warn"], {
        FALC_HOME: join(root, `par-falc${i}`, "home"),
      });
      if (!(JSON.parse(r.out) as { ok: boolean }).ok) throw new Error(`falc sync par${i} failed: ${r.out}`);
    }),
  );
  return (performance.now() - t) / 1000;
}
const par: { r: number; f: number }[] = [];
for (let run = 0; run < PAR_RUNS && PAR > 0; run++) {
  parClear();
  const falcFirst = run % 2 === 1;
  const f0 = falcFirst ? await parallel("falc") : 0;
  const r = await parallel("rsync");
  const f = falcFirst ? f0 : await parallel("falc");
  par.push({ r, f });
  loads.push(loadavg()[0]!);
}

const digest = (dir: string) => {
  const out = Bun.spawnSync(["bash", "-c", `cd ${dir} && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`]);
  return out.stdout.toString().trim();
};
const want = digest(src);
const same = want === digest(fdest) && want === digest(rdest) && Array.from({ length: par.length ? PAR : 0 }, (_, i) => [parDirs("rsync", i), parDirs("falc", i)]).flat().every((d) => digest(d) === want);

master.kill("SIGTERM");
rsyncd.kill("SIGTERM");
await Promise.all([master.exited, rsyncd.exited]);
rmSync(root, { recursive: true, force: true });

const med = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
console.log(`  ${RUNS} runs, medians (range); load average (1 min) ${loads.map((l) => l.toFixed(1)).join(" → ")} on ${navigator.hardwareConcurrency} cores`);
console.log(`  ${"".padEnd(17)} ${"rsync s".padStart(16)} ${"falc s".padStart(16)} ${"ratio".padStart(6)} ${"(round)".padStart(8)} ${"cpu s rsync/falc".padStart(17)} ${"rsync bytes".padStart(12)} ${"falc bytes".padStart(12)}`);
const M: Record<string, { r: number; f: number; round: number }> = {};
for (const name of STEPS) {
  const xs = samples[name];
  const r = med(xs.map((x) => x.rs));
  const f = med(xs.map((x) => x.fs));
  const round = med(xs.map((x) => x.fround));
  M[name] = { r, f, round };
  const cell = (m: number, all: number[]) => `${m.toFixed(3)} (${range(all)})`.padStart(16);
  console.log(
    `  ${name.padEnd(17)} ${cell(r, xs.map((x) => x.rs))} ${cell(f, xs.map((x) => x.fs))} ${(f / r).toFixed(2).padStart(6)} ${round.toFixed(3).padStart(7)}s ${`${med(xs.map((x) => x.rcpu)).toFixed(2)} / ${med(xs.map((x) => x.fcpu)).toFixed(2)}`.padStart(17)} ${String(med(xs.map((x) => x.rbytes))).padStart(12)} ${String(med(xs.map((x) => x.fbytes))).padStart(12)}`,
  );
}
console.log(`  falc time is the whole \`falc sync worker --once\` process; (round) is the sync itself inside it; cpu is the timed process only (not the daemon or master).`);
console.log(`  trees identical after the run: ${same ? "yes" : "NO"}`);
const goal = (ok: boolean) => (ok ? "met" : "MISSED");
const first = M["first sync"]!;
const none = M["no change"]!;
console.log(`  goal first sync <= 1.2x rsync: process ${goal(first.f <= 1.2 * first.r)} (${(first.f / first.r).toFixed(2)}x), round ${goal(first.round <= 1.2 * first.r)} (${(first.round / first.r).toFixed(2)}x)`);
console.log(`  goal no change <= rsync: process ${goal(none.f <= none.r)} (${(none.f / none.r).toFixed(2)}x), round ${goal(none.round <= none.r)} (${(none.round / none.r).toFixed(2)}x)`);
const one = samples["one changed file"];
console.log(`  goal one changed file moves about one file: ${med(one.map((x) => x.fbytes))} bytes on the wire for one ${changedSize}-byte file (rsync: ${med(one.map((x) => x.rbytes))})`);
if (par.length) {
  const r = med(par.map((x) => x.r));
  const f = med(par.map((x) => x.f));
  console.log(`  ${PAR} at once, first sync (${par.length} runs): rsync ${r.toFixed(2)} s (${range(par.map((x) => x.r))}), falc ${f.toFixed(2)} s (${range(par.map((x) => x.f))}): ${(f / r).toFixed(2)}x`);
  console.log(`  goal ${PAR} workers at once <= 1.2x ${PAR} rsync clients: ${goal(f <= 1.2 * r)} (${(f / r).toFixed(2)}x)`);
}
if (!same) process.exit(1);
