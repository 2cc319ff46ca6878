/**
 * How to run this same program again: the compiled binary re-executes itself; under `bun src/main.ts`
 * (tests, development) it is bun plus the entry file.
 */
export function selfCommand(): string[] {
  const main = Bun.main;
  const compiled = main.startsWith("/$bunfs/") || main.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, main];
}
