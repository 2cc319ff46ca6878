import { Builtins, Cli } from "clipanion";
import { commands } from "../commands/index.ts";
import { VERSION } from "./core/version.ts";

/** Colours only for a person at a terminal: pipes and NO_COLOR get plain text. */
export function buildCli(): Cli {
  const cli = new Cli({
    binaryLabel: "falc",
    binaryName: "falc",
    binaryVersion: VERSION,
    enableColors: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of commands) cli.register(c);
  return cli;
}

if (import.meta.main) {
  const cli = buildCli();
  const args = process.argv.slice(2);
  try {
    cli.process(args);
  } catch (e) {
    // Unknown commands and bad options are usage errors: exit 2, not clipanion's 1.
    process.stderr.write(cli.error(e));
    process.exit(2);
  }
  process.exitCode = await cli.run(args, Cli.defaultContext);
}
