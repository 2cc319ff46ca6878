import { EXIT, usageError } from "../core/errors.ts";
import type { PlatformEntry } from "./schemas.ts";
import type { AnalysisSummary } from "./summary.ts";

/** `--platform windows:10` / `--platform linux` → Cuckoo3 platform entries. */
export function parsePlatforms(values: string[]): PlatformEntry[] {
  return values.map((v) => {
    const m = /^([a-z][a-z0-9_-]{0,31})(?::([A-Za-z0-9._-]{1,32}))?$/.exec(v.trim());
    if (!m) throw usageError(`--platform must be a name or name:version (e.g. windows:10, linux), got \`${v}\``);
    return { platform: m[1]!, os_version: m[2] ?? "" };
  });
}

/**
 * The exit code a CI step trusts: 1 when an analysis failed or its score is over the threshold,
 * with the reason on stderr; 0 otherwise.
 */
export function scoreExit(summaries: AnalysisSummary[], failScore: number | undefined, warn: (line: string) => void): number {
  let code: number = EXIT.ok;
  for (const s of summaries) {
    if (s.state === "fatal_error") {
      warn(`analysis ${s.analysis_id} failed: ${s.errors.fatal[0]?.error ?? "fatal error"}`);
      code = EXIT.failed;
    } else if (failScore !== undefined && s.score > failScore) {
      warn(`analysis ${s.analysis_id} scored ${s.score} (${s.score_label}), over --fail-score ${failScore}`);
      code = EXIT.failed;
    }
  }
  return code;
}
