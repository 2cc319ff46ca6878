import { z } from "zod";
import { inputError } from "../core/errors.ts";

/** How to run a language: the interpreter's argv (absolute, under /usr) and the file name the code is saved as. */
export const languageSchema = z.object({
  argv: z.array(z.string().min(1)).min(1),
  file: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "a plain file name"),
});
export type Language = z.infer<typeof languageSchema>;

export const DEFAULT_LANGUAGES: Record<string, Language> = {
  python3: { argv: ["/usr/bin/python3", "-I", "-B"], file: "main.py" },
  node: { argv: ["/usr/bin/node"], file: "main.js" },
  bun: { argv: ["/usr/bin/bun", "run", "--no-install"], file: "main.ts" },
  sh: { argv: ["/bin/sh"], file: "main.sh" },
};

const ALIASES: Record<string, string> = { python: "python3", py: "python3", js: "node", javascript: "node", ts: "bun", typescript: "bun", shell: "sh" };

/** Resolve a language name (or alias) in the configured map. */
export function resolveLanguage(name: string, map: Record<string, Language> = DEFAULT_LANGUAGES): { name: string; lang: Language } {
  const key = map[name] ? name : ALIASES[name] && map[ALIASES[name]!] ? ALIASES[name]! : null;
  if (!key) throw inputError(`unknown language \`${name}\`: use one of ${Object.keys(map).join(", ")}`);
  return { name: key, lang: map[key]! };
}

/** Guess the language from a file name's extension. */
export function languageFromFile(path: string): string | undefined {
  const ext = path.split(".").pop()?.toLowerCase();
  return ({ py: "python3", js: "node", mjs: "node", ts: "bun", sh: "sh" } as Record<string, string>)[ext ?? ""];
}
