import type { Cli, CommandClass } from "clipanion";

/**
 * The words of `falc <family…> --help` when they name a family of commands (`sync`, `tasks`,
 * `scan schedule`) rather than one command: a first word, or words that more than one path
 * continues. Clipanion alone answers `falc sync --help` with "Command not found" (no command has
 * the path `sync`) and `falc tasks --help` with `tasks list` only (its alias), so main.ts asks here
 * first. Null when clipanion's own help is the answer (`falc sync master --help`).
 */
export function familyOf(args: string[], commands: CommandClass[]): string[] | null {
  const last = args[args.length - 1];
  if (args.length < 2 || (last !== "--help" && last !== "-h")) return null;
  const words = args.slice(0, -1);
  if (words.some((w) => w.startsWith("-"))) return null;
  const members = membersOf(words, commands);
  if (!members.length) return null;
  const deeper = members.some((m) => (m.paths ?? []).some((p) => p.length > words.length && startsWith(p, words)));
  return words.length === 1 || deeper ? words : null;
}

const startsWith = (path: string[], words: string[]) => words.every((w, i) => path[i] === w);

function membersOf(words: string[], commands: CommandClass[]): CommandClass[] {
  return commands.filter((c) => (c.paths ?? []).some((p) => startsWith(p, words)));
}

/**
 * The family's help: the command whose own path is the family's (`falc scan`) in full, then every
 * command of the family on one line with its description and aliases.
 */
export function familyHelp(cli: Cli, words: string[], commands: CommandClass[]): string {
  const members = membersOf(words, commands);
  const name = (p: string[]) => `falc ${p.join(" ")}`;
  const head = members.find((c) => c.paths?.[0]?.join(" ") === words.join(" "));
  const rows = members.map((c) => {
    const [primary, ...aliases] = c.paths ?? [[]];
    const also = aliases.length ? ` (also \`${aliases.map(name).join("`, `")}\`)` : "";
    return [name(primary!), `${c.usage?.description ?? ""}${also}`] as const;
  });
  const width = Math.max(...rows.map(([n]) => n.length));
  const list = rows.map(([n, d]) => `  ${n.padEnd(width)}  ${d}`.trimEnd()).join("\n");
  const intro = head ? cli.usage(head, { detailed: true }) + "\n" : "";
  return `${intro}Commands in \`${name(words)}\`\n\n${list}\n\nRun \`falc <command> --help\` for a command's options and examples.\n`;
}
