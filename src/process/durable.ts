import { dirname } from "node:path";
import { fsyncDir, writeFileAtomic } from "../core/atomic.ts";

/**
 * A stage writes several files into the analysis (and task) directory. Each is written atomically
 * (temp + fsync + rename); the directories' own fsync, which makes the renames survive a crash,
 * is done once per directory when the stage commits (commitWrites) rather than once per file.
 */
const pending = new Set<string>();

export function writeStageFile(path: string, data: string | Uint8Array): void {
  writeFileAtomic(path, data, 0o644, { syncDir: false });
  pending.add(dirname(path));
}

export function writeStageJson(path: string, value: unknown): void {
  writeStageFile(path, JSON.stringify(value, null, 2) + "\n");
}

/** fsync every directory written into since the last commit. */
export function commitWrites(): void {
  for (const d of pending) fsyncDir(d);
  pending.clear();
}
