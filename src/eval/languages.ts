import { z } from "zod";
import { inputError } from "../core/errors.ts";

/**
 * How to run a language: the interpreter's argv (absolute, under /usr; the code's path is
 * appended) and the file name the code is saved as. A compiled language also has `compile`, the
 * compiler's argv with `{src}` (the code) and `{out}` (the binary) in it: the compiler runs in a
 * sandbox of its own (eval.compile_limits), and the binary it made is then run as `argv` alone.
 */
export const languageSchema = z
  .object({
    argv: z.array(z.string().min(1)).min(1),
    file: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "a plain file name"),
    compile: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict()
  .refine((l) => !l.compile || (l.compile.some((a) => a.includes("{src}")) && l.compile.some((a) => a.includes("{out}"))), { message: "compile must contain {src} and {out}", path: ["compile"] });
export type Language = z.infer<typeof languageSchema> & {
  /** Internal: argv is the whole command (a compiled binary, or the compile step's own wrapper). */
  exec?: boolean;
};

/** Where a compiled binary is run from inside the sandbox (the code directory, read-only). */
export const COMPILED_ARGV = ["/code/main"];

export const DEFAULT_LANGUAGES: Record<string, Language> = {
  python3: { argv: ["/usr/bin/python3", "-I", "-B"], file: "main.py" },
  node: { argv: ["/usr/bin/node"], file: "main.js" },
  bun: { argv: ["/usr/bin/bun", "run", "--no-install"], file: "main.ts" },
  sh: { argv: ["/bin/sh"], file: "main.sh" },
  c: { compile: ["/usr/bin/gcc", "-O2", "-std=gnu17", "-pipe", "-o", "{out}", "{src}", "-lm"], argv: COMPILED_ARGV, file: "main.c" },
  cpp: { compile: ["/usr/bin/g++", "-O2", "-std=gnu++17", "-pipe", "-o", "{out}", "{src}", "-lm"], argv: COMPILED_ARGV, file: "main.cpp" },
};

const ALIASES: Record<string, string> = { python: "python3", py: "python3", js: "node", javascript: "node", ts: "bun", typescript: "bun", shell: "sh", "c++": "cpp", cxx: "cpp", gcc: "c", "g++": "cpp" };

/** Resolve a language name (or alias) in the configured map. */
export function resolveLanguage(name: string, map: Record<string, Language> = DEFAULT_LANGUAGES): { name: string; lang: Language } {
  const key = map[name] ? name : ALIASES[name] && map[ALIASES[name]!] ? ALIASES[name]! : null;
  if (!key) throw inputError(`unknown language \`${name}\`: use one of ${Object.keys(map).join(", ")}`);
  return { name: key, lang: map[key]! };
}

/** Guess the language from a file name's extension. */
export function languageFromFile(path: string): string | undefined {
  const ext = path.split(".").pop()?.toLowerCase();
  return ({ py: "python3", js: "node", mjs: "node", ts: "bun", sh: "sh", c: "c", cpp: "cpp", cc: "cpp", cxx: "cpp" } as Record<string, string>)[ext ?? ""];
}
