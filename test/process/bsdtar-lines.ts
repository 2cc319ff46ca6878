/** The lines `bsdtar -tvf` prints for a listing, to compare falc's listings with bsdtar's own. */
import type { EntryInfo } from "../../src/process/analyze/libarchive.ts";

/** bsdtar's list_item (tar/util.c), with its running column widths, in UTC. */
export function bsdtarLines(entries: EntryInfo[], now = Date.now() / 1000): string[] {
  let uWidth = 6;
  let gsWidth = 13;
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return entries.map((e) => {
    let line = `${e.mode} ${e.nlink} `;
    const u = e.uname || `${e.uid} `;
    uWidth = Math.max(uWidth, u.length);
    line += `${u.padEnd(uWidth)} `;
    const g = e.gname || `${e.gid}`;
    line += g;
    const size = String(Math.max(0, e.size));
    if (g.length + size.length >= gsWidth) gsWidth = g.length + size.length + 1;
    line += size.padStart(gsWidth - g.length);
    const d = new Date(e.mtime * 1000);
    const day = String(d.getUTCDate()).padStart(2);
    const half = (365 * 86400) / 2;
    const when = e.mtime < now - half || e.mtime > now + half ? `${months[d.getUTCMonth()]} ${day}  ${d.getUTCFullYear()}` : `${months[d.getUTCMonth()]} ${day} ${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
    line += ` ${when} ${e.name}`;
    if (e.type === "hardlink") line += ` link to ${e.link}`;
    else if (e.type === "symlink") line += ` -> ${e.link}`;
    return line;
  });
}
