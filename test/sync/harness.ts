import { afterAll, beforeAll } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort, tempHome } from "../e2e/helpers.ts";
import { fastConfig, keyFile, spawnSync, type SyncProc } from "../e2e/sync-helpers.ts";

/**
 * What every sync end-to-end file sets up the same way: one temp home per file, every `falc sync` process a test
 * started killed (SIGKILL) after the file whatever the test left running, and sites: a master tree, a cluster key
 * (mode 600), a fast config and a free port, with masters and workers started against them.
 */

/** One master's surroundings under <home>/<name>: tree M, key, config (env.FALC_CONFIG), port, the master's home. */
export interface SyncSite {
  base: string;
  M: string;
  key: string;
  cfg: string;
  env: Record<string, string>;
  port: number;
  mhome: string;
}

export interface WorkerOptions {
  /** Port to dial (default the site's: another one puts a proxy in between). */
  port?: number;
  /** Tree (default <base>/<name>/tree) and FALC_HOME (default <base>/<name>home). */
  dir?: string;
  home?: string;
  key?: string;
  args?: string[];
}

export interface SyncSuite {
  readonly home: string;
  track<P extends SyncProc>(p: P): P;
  /** A site under <home>/<name> (name "" is the home itself); configExtra is appended to the fast config. */
  site(name: string, opts?: { configExtra?: string }): Promise<SyncSite>;
  /** `falc sync master` on the site's port and tree, tracked; not waited for. */
  master(s: SyncSite): SyncProc;
  /** master(), then waits for its master_started line. */
  startMaster(s: SyncSite): Promise<SyncProc>;
  /** `falc sync worker --name <name>` against the site, tracked. */
  worker(s: SyncSite, name: string, o?: WorkerOptions): SyncProc;
}

/** Call once at the top of a test file: registers the file's beforeAll/afterAll. */
export function syncSuite(prefix: string): SyncSuite {
  let T: { home: string; cleanup(): void } | undefined;
  const procs: SyncProc[] = [];
  beforeAll(() => {
    T = tempHome(prefix);
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    T?.cleanup();
  });
  const suite: SyncSuite = {
    get home() {
      if (!T) throw new Error("syncSuite: home used before beforeAll ran");
      return T.home;
    },
    track(p) {
      procs.push(p);
      return p;
    },
    async site(name, opts = {}) {
      const base = join(suite.home, name);
      const M = join(base, "master");
      mkdirSync(M, { recursive: true });
      const cfg = fastConfig(join(base, "falc.yaml"), opts.configExtra);
      return { base, M, key: keyFile(join(base, "cluster.key")), cfg, env: { FALC_CONFIG: cfg }, port: await freePort(), mhome: join(base, "mhome") };
    },
    master(s) {
      return suite.track(spawnSync(["master", "--listen", `127.0.0.1:${s.port}`, "--dir", s.M, "--key-file", s.key], s.mhome, s.env));
    },
    async startMaster(s) {
      const m = suite.master(s);
      await m.waitLog((l) => l.event === "master_started", "master started");
      return m;
    },
    worker(s, name, o = {}) {
      const dir = o.dir ?? join(s.base, name, "tree");
      const args = ["worker", "--master", `127.0.0.1:${o.port ?? s.port}`, "--dir", dir, "--key-file", o.key ?? s.key, "--name", name, ...(o.args ?? [])];
      return suite.track(spawnSync(args, o.home ?? join(s.base, `${name}home`), s.env));
    },
  };
  return suite;
}
