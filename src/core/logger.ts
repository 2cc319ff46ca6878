import pino from "pino";

/**
 * Logs go to stderr: stdout belongs to results (--json). On a TTY a short human line;
 * elsewhere JSON lines with the fields event, task_id, stage, worker for machines to filter.
 */
export type Logger = pino.Logger;

export interface LogFields {
  event?: string;
  task_id?: string;
  stage?: string;
  worker?: string;
  [k: string]: unknown;
}

const levelNames: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
const levelColors: Record<number, string> = { 10: "90", 20: "90", 30: "36", 40: "33", 50: "31", 60: "31" };

function prettyStream(color: boolean) {
  return {
    write(line: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line);
      } catch {
        process.stderr.write(line);
        return;
      }
      const { level, time, msg, pid: _p, hostname: _h, ...rest } = rec as { level: number; time: number; msg?: string; pid?: number; hostname?: string };
      const t = new Date(time).toISOString().slice(11, 19);
      const name = (levelNames[level] ?? String(level)).padEnd(5);
      const lvl = color ? `\x1b[${levelColors[level] ?? "0"}m${name}\x1b[0m` : name;
      const extras = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      process.stderr.write(`${t} ${lvl} ${msg ?? ""}${extras ? "  " + extras : ""}\n`);
    },
  };
}

export function createLogger(opts: { level?: string; pretty?: boolean; bindings?: LogFields; fd?: number } = {}): Logger {
  // A file descriptor other than stderr (the worker's log file while the TUI owns the screen) gets JSON lines.
  const pretty = opts.fd === undefined && (opts.pretty ?? Boolean(process.stderr.isTTY));
  const color = pretty && !process.env.NO_COLOR;
  const base = pino(
    { level: opts.level ?? process.env.FALC_LOG_LEVEL ?? "info", base: undefined, timestamp: pino.stdTimeFunctions.epochTime },
    pretty ? prettyStream(color) : pino.destination({ fd: opts.fd ?? 2, sync: true }),
  );
  return opts.bindings ? base.child(opts.bindings) : base;
}

/** A logger that drops everything, for library use in tests. */
export const silentLogger: Logger = pino({ level: "silent" });
