/**
 * The command line's inputs as submissions: each checked on its own, so one bad or empty file in a batch
 * is reported and the others go on; and a file name that is not valid UTF-8 is still found.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { errorLine, inputError } from "../core/errors.ts";
import { type Submission, checkSubmission } from "./storage.ts";
import { submissionOf } from "./submit.ts";

export interface Inputs {
  /** The accepted inputs, in order: what to process (as given, and as submissions). */
  targets: string[];
  subs: Submission[];
  /** Position in the command line and why each refused input was refused. */
  rejected: { index: number; input: string; error: string }[];
}

/** The process's arguments as bytes (/proc/self/cmdline): argv strings lose bytes that are not UTF-8. */
function rawArgs(): Buffer[] {
  try {
    const raw = readFileSync("/proc/self/cmdline");
    const out: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] === 0) {
        out.push(raw.subarray(start, i));
        start = i + 1;
      }
    }
    return out;
  } catch {
    return [];
  }
}

/** A name for display and reports: valid UTF-8 kept, every other byte as \xNN. */
export function escapeName(b: Buffer): string {
  let out = "";
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    const seq = len ? b.subarray(i, i + len) : undefined;
    if (seq && seq.length === len) {
      const s = seq.toString("utf8");
      if (!s.includes("\uFFFD")) {
        out += s;
        i += len;
        continue;
      }
    }
    out += `\\x${c.toString(16).padStart(2, "0")}`;
    i++;
  }
  return out;
}

let linkDir: string | undefined;

/**
 * An argument that names a file whose name is not UTF-8 arrives with U+FFFD in place of the bad bytes.
 * The raw bytes are taken from /proc/self/cmdline and the file reached through a symlink whose name is
 * the escaped name (what reports show), in a private temp dir removed at exit.
 */
function recoverRawPath(arg: string): Submission | undefined {
  if (!arg.includes("\uFFFD") || existsSync(arg)) return undefined;
  const raw = rawArgs().find((b) => b.toString("utf8") === arg && existsSync(b));
  if (!raw) return undefined;
  const abs = isAbsolute(raw.toString("latin1")) ? raw : Buffer.concat([Buffer.from(`${process.cwd()}/`), raw]);
  const base = raw.subarray(raw.lastIndexOf(0x2f) + 1);
  if (!linkDir) {
    linkDir = mkdtempSync(join(tmpdir(), "falc-names-"));
    const d = linkDir;
    process.on("exit", () => rmSync(d, { recursive: true, force: true }));
  }
  // One directory per input, so the link's own name is the escaped name (lane processes see only the path).
  const d = mkdtempSync(join(linkDir, "n"));
  const link = join(d, escapeName(base));
  symlinkSync(abs, link);
  return { category: "file", path: link, filename: escapeName(base) };
}

/** Every input checked before anything is stored; the refused ones are listed, the others go on. */
export function checkInputs(args: string[]): Inputs {
  const out: Inputs = { targets: [], subs: [], rejected: [] };
  args.forEach((arg, index) => {
    try {
      const sub = recoverRawPath(arg) ?? submissionOf(arg);
      checkSubmission(sub);
      out.targets.push(sub.category === "file" ? sub.path : arg);
      out.subs.push(sub);
    } catch (e) {
      out.rejected.push({ index, input: arg, error: errorLine(e) });
    }
  });
  // Nothing to do: a usage error as before (exit 2), naming the first problem.
  if (!out.subs.length && out.rejected.length) throw inputError(out.rejected.map((r) => r.error).join("; "));
  return out;
}
