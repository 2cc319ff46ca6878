/** Column helpers: fixed widths so a 10,000-task window never reflows. */
export function fit(
  s: string | number | null | undefined,
  width: number,
  right = false,
): string {
  const t = s === null || s === undefined || s === "" ? "-" : String(s);
  if (t.length > width)
    return width <= 1 ? t.slice(0, width) : t.slice(0, width - 1) + "…";
  return right ? t.padStart(width) : t.padEnd(width);
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600)
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export function since(at: number | null | undefined, now: number): string {
  return at ? duration(now - at) : "-";
}

/** A progress bar of plain characters (readable without colour). */
export function bar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const n = Math.round(f * width);
  return "#".repeat(n) + ".".repeat(width - n);
}

export function pct(fraction: number): string {
  return `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

/** Window of `height` rows around `selected`, so only the visible rows are rendered. */
export function visibleWindow(
  total: number,
  selected: number,
  height: number,
): [number, number] {
  if (total <= height) return [0, total];
  let start = Math.max(0, selected - Math.floor(height / 2));
  start = Math.min(start, total - height);
  return [start, start + height];
}

export function oneLine(v: unknown, width: number): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return fit(s === undefined ? "-" : s.replace(/\s+/g, " "), width);
}
