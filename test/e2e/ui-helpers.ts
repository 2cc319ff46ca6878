import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { FALC, waitFor } from "./helpers.ts";

/** `falc ui` in a private tmux server (its own socket, so parallel tests never meet). */
export interface TmuxUi {
  capture(): string;
  /** The pane with its colour escapes (tmux capture-pane -e). */
  captureAnsi(): string;
  keys(...keys: string[]): void;
  /** The pid of the falc process in the pane (a child of the pane's shell). */
  falcPid(): number;
  /** Wait until the pane matches; the last capture is in the error when it does not. */
  waitFor(re: RegExp | string, timeoutMs?: number, what?: string): Promise<string>;
  stop(): void;
}

let n = 0;

export async function startUi(home: string, args: string[] = [], env: Record<string, string> = {}, size = { x: 130, y: 32 }): Promise<TmuxUi> {
  const sock = `falc-ui-${process.pid}-${n++}`;
  const envArgs = Object.entries({ FALC_HOME: home, NO_COLOR: "1", TERM: "xterm", ...env })
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k}=${v}`);
  // env -u drops an inherited NO_COLOR when a test wants colours.
  const unset = env.NO_COLOR === "" ? ["-u", "NO_COLOR"] : [];
  // The shell line only reports the exit code afterwards; falc itself is given an argv.
  const cmd = ["env", ...unset, ...envArgs, FALC, "ui", ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", String(size.x), "-y", String(size.y), `${cmd}; echo FALC_EXIT=$?; echo TTY_MODES $(stty -a | grep -o -- '-\\?icanon\\|-\\?echo '); sleep 120`]);
  const ui: TmuxUi = {
    capture: () => run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "ui"]),
    captureAnsi: () => run(["tmux", "-L", sock, "capture-pane", "-e", "-p", "-t", "ui"]),
    keys: (...keys) => void run(["tmux", "-L", sock, "send-keys", "-t", "ui", ...keys]),
    waitFor: async (re, timeoutMs = 10_000, what = String(re)) => {
      let last = "";
      try {
        return await waitFor(() => {
          last = ui.capture();
          return (typeof re === "string" ? last.includes(re) : re.test(last)) && last;
        }, timeoutMs, 100, what);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- pane ---\n${last}`);
      }
    },
    falcPid: () => {
      const shell = Number(run(["tmux", "-L", sock, "list-panes", "-t", "ui", "-F", "#{pane_pid}"]).trim());
      const kids = readFileSync(`/proc/${shell}/task/${shell}/children`, "utf8").trim().split(/\s+/).map(Number);
      const pid = kids.find((k) => readFileSync(`/proc/${k}/cmdline`, "utf8").includes("ui"));
      if (!pid) throw new Error("falc ui is not running in the pane");
      return pid;
    },
    stop: () => {
      Bun.spawnSync(["tmux", "-L", sock, "kill-server"]);
      // kill-server leaves the socket file behind.
      rmSync(join(process.env.TMUX_TMPDIR ?? "/tmp", `tmux-${process.getuid?.() ?? 0}`, sock), { force: true });
    },
  };
  return ui;
}

function run(argv: string[]): string {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.slice(0, 4).join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}
