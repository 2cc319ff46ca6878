import { expectationFailures } from "./expect.ts";
import { SCANNED_STATUSES } from "./runner.ts";
import type { LocalScanSummary } from "./scan.ts";
import type { ScanPlan } from "./scan-request.ts";
import type { Refusal } from "./targets.ts";

/**
 * What a finished local run means for its caller: the targets that were not scanned (a name that
 * did not resolve counts as unreachable), failed expectations, and the exit code (0 only when
 * every target was up or down and every expectation held).
 */
export function judgeRun(summary: LocalScanSummary, plan: ScanPlan, o: { failOnNew: boolean }) {
  const unresolved = plan.refused.filter((r: Refusal) => r.reason === "unresolvable").map((r) => ({ ip: r.input, status: "unreachable", error: r.detail }));
  const notScanned = [...summary.targets.filter((t) => !SCANNED_STATUSES.includes(t.status as never)).map((t) => ({ ip: t.ip, status: t.status, error: t.error })), ...unresolved];
  const upHosts = summary.targets.filter((t) => t.status === "up").map((t) => summary.hosts.find((h) => h.ip === t.ip) ?? { ip: t.ip, addrtype: "ipv4" as const, status: "up", hostnames: [], ports: [] });
  const problems = expectationFailures(upHosts, { expected: plan.expected, failOnNew: o.failOnNew, before: plan.before });
  const exit = summary.status !== "finished" || notScanned.length || problems.length ? 1 : 0;
  return { notScanned, problems, exit };
}
