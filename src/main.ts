import { Builtins, Cli, type CommandClass } from "clipanion";
import { commands } from "../commands/index.ts";
import { VERSION } from "./core/version.ts";
import { familyHelp, familyOf } from "./cli/family-help.ts";

/**
 * The commands that can matter for `args`: the family (same first path word) named by the first
 * argument that is not an option. Clipanion compiles one state machine over every registered
 * command on each run, about 50 ms for all of falc's; a family whose first word is not where a
 * path starts can never match and never shows up in an error. When no family is named (`falc`,
 * `falc --help`, a typo, an option value first) all are registered, so the overview and
 * "did you mean" stay whole.
 */
export function commandsFor(args: string[]): CommandClass[] {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) return [];
  const first = args.find((a) => !a.startsWith("-"));
  const family = commands.filter((c) => (c.paths ?? []).some((p) => p[0] === first));
  if (!family.length) return commands;
  // The same again one word down (`tasks list`: its commands and the family's root, ~20 ms less to compile);
  // a second word no path has keeps the whole family for the "did you mean".
  const second = args[args.indexOf(first!) + 1];
  const named = (c: CommandClass) => (c.paths ?? []).some((p) => p[1] === second);
  if (second && !second.startsWith("-") && family.some(named)) return family.filter((c) => named(c) || (c.paths ?? []).some((p) => p.length === 1));
  return family;
}

/** Colours only for a person at a terminal: pipes and NO_COLOR get plain text. */
export function buildCli(args?: string[]): Cli {
  const cli = new Cli({
    binaryLabel: "falc",
    binaryName: "falc",
    binaryVersion: VERSION,
    enableColors: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of args ? commandsFor(args) : commands) cli.register(c);
  return cli;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const cli = buildCli(args);
  const family = familyOf(args, commands);
  if (family) {
    process.stdout.write(familyHelp(cli, family, commandsFor(args)));
    process.exit(0);
  }
  let command;
  try {
    // Parsed once and the command handed to run(): clipanion's parse grows faster than linearly
    // with the number of arguments (≈0.2 s for `falc process` with 1,000 files), so not twice.
    command = cli.process(args, Cli.defaultContext);
  } catch (e) {
    // Unknown commands and bad options are usage errors: exit 2, not clipanion's 1.
    process.stderr.write(cli.error(e));
    process.exit(2);
  }
  process.exitCode = await cli.run(command, Cli.defaultContext);
}
