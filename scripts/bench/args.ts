/** `--name N` from the command line as a number, else `def` (the benchmarks' options are all numbers). */
export function numArg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
