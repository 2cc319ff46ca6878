import { makeTheme } from "./theme.ts";

/**
 * Loads the TUI module for drawing on this process's terminal.
 *
 * chalk (under ink) decides its colour level once, when it is first imported, and says "none"
 * whenever CI is set without a known CI vendor: a TUI opened on a terminal inside a pipeline
 * (tmux in CI) would lose its colours. The theme already honours NO_COLOR and TERM=dumb, so when
 * it wants colours on a TTY we ask chalk for the 16 basic ones before ink loads.
 */
export async function loadTui(): Promise<typeof import("./app.tsx")> {
  if (process.stdout.isTTY && makeTheme().color && !("FORCE_COLOR" in process.env))
    process.env.FORCE_COLOR = "1";
  return await import("./app.tsx");
}
