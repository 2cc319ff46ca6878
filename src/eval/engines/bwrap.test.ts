/**
 * bwrap held on --args: options that never arrive, or arrive cut short, must leave the sandbox
 * without a program to run rather than with less isolation.
 */
import { expect, test } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bwrapEngine } from "./bwrap.ts";
import { buildLimits } from "../limits.ts";
import { DEFAULT_LANGUAGES } from "../languages.ts";

import { arch } from "node:os";
import { skipUnless } from "../../../test/skip.ts";

// bwrap has falc's seccomp filter on x86_64 only and refuses to run elsewhere.
skipUnless(arch() === "x64", "other architecture")("a cut-short or missing command line never runs the code", async () => {
  await bwrapEngine.check();
  const dir = mkdtempSync(join(tmpdir(), "falc-bwrap-args-"));
  try {
    const codeDir = join(dir, "code");
    mkdirSync(codeDir);
    mkdirSync(join(dir, "state"));
    writeFileSync(join(codeDir, "main.py"), "print('RAN')");
    const job = { id: "t", lang: DEFAULT_LANGUAGES.python3!, limits: buildLimits(), codeDir, stateDir: join(dir, "state") };
    const run = async (cut: (data: Uint8Array) => Uint8Array) => {
      const p = await bwrapEngine.prepare(job, { hold: true });
      const fds = p.fds ?? [];
      const proc = Bun.spawn(p.argv, { stdio: ["ignore", "pipe", "pipe", ...fds, "pipe"], uid: p.uid, gid: p.gid });
      const fd = (proc as unknown as { stdio: number[] }).stdio[3 + fds.length]!;
      const data = cut(p.startData!);
      if (data.length) writeSync(fd, data);
      closeSync(fd);
      const [out, , code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      await p.cleanup?.();
      return { out, code };
    };
    // The whole command line runs the code (so the cases below can fail).
    expect(await run((d) => d)).toEqual({ out: "RAN\n", code: 0 });
    const text = (d: Uint8Array) => new TextDecoder().decode(d);
    const codeAt = (d: Uint8Array) => {
      const at = text(d).indexOf(`--dir\0/code\0`);
      expect(at).toBeGreaterThan(0);
      expect(text(d).slice(at)).toContain("--file\0");
      expect(text(d).slice(0, at)).toContain("--seccomp");
      expect(text(d).slice(0, at)).toContain("--disable-userns");
      return at;
    };
    for (const cut of [() => new Uint8Array(), (d: Uint8Array) => d.subarray(0, 40), (d: Uint8Array) => d.subarray(0, codeAt(d))]) {
      const r = await run(cut);
      expect(r.out).toBe("");
      expect(r.code).not.toBe(0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
