/** "1m05s", "42s". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/**
 * One progress line for a terminal: bar, percent, targets done, elapsed time and an ETA from the
 * pace so far (none until there is some progress to judge by).
 */
export function progressLine(o: { fraction: number; done: number; total: number; elapsedMs: number; note: string; width?: number }): string {
  const w = o.width ?? 24;
  const f = Math.max(0, Math.min(1, o.fraction));
  const n = Math.round(f * w);
  const eta = f >= 0.02 && f < 1 ? ` eta ${duration((o.elapsedMs * (1 - f)) / f)}` : "";
  return `[${"#".repeat(n)}${"-".repeat(w - n)}] ${(f * 100).toFixed(0).padStart(3)}%  ${o.done}/${o.total}  ${duration(o.elapsedMs)}${eta}  ${o.note.slice(0, 40)}`;
}

/** Draws progressLine on a TTY at most every 200 ms; `write` of other text first clears the bar. */
export function progressBar(out: { write(s: string): unknown }, enabled: boolean) {
  const t0 = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(done: number, total: number, fraction: number, note: string) {
      if (!enabled || Date.now() - last < 200) return;
      last = Date.now();
      shown = true;
      out.write(`\r\x1b[K${progressLine({ fraction, done, total, elapsedMs: Date.now() - t0, note })}`);
    },
    /** Text for the user while the bar is up: on its own line, the bar redrawn by the next update. */
    print(line: string) {
      if (shown) out.write("\r\x1b[K");
      out.write(line.endsWith("\n") ? line : `${line}\n`);
      last = 0;
    },
    clear() {
      if (shown) out.write("\r\x1b[K");
      shown = false;
    },
  };
}
