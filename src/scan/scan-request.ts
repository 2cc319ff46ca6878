import type { Config } from "../core/config.ts";
import { usageError } from "../core/errors.ts";
import type { Queue } from "../queue/types.ts";
import { scanConfig, scopeOf } from "./config.ts";
import { IMPORT_MODES, Ledger, type ImportMode } from "./ledger.ts";
import { loadProfile, parsePorts, type Profile } from "./profile.ts";
import { expandTargets, readTargetsFile, type Refusal, type Resolver, type Target } from "./targets.ts";

/** What `falc scan` was asked, as typed on the command line. */
export interface ScanArgs {
  targets: string[];
  targetsFile?: string;
  profile: string;
  project: string;
  parallel?: number;
  mode?: string;
  skipKnown: boolean;
  resolve: boolean;
  expectOpen?: string;
}

/** A checked request: targets expanded and refused per target, the ledger's open ports before. */
export interface ScanPlan {
  profile: Profile;
  project: string;
  mode: ImportMode;
  parallel: number;
  targets: Target[];
  refused: Refusal[];
  expected: number[] | null;
  /** "ip proto/port" of every open port the ledger knew before the run (for --fail-on-new). */
  before: Set<string>;
}

/**
 * Check the arguments and expand the targets. Every input error is a usage error (exit 2) before
 * anything is scanned; a word without a dot is never sent to a resolver unless `--resolve` says so
 * (a mistyped subcommand must not become a DNS query, let alone a target).
 */
export async function planScan(config: Config, a: ScanArgs, resolver?: Resolver): Promise<ScanPlan> {
  const cfg = scanConfig(config);
  const mode = (a.mode ?? cfg.mode) as ImportMode;
  if (!IMPORT_MODES.includes(mode)) throw usageError(`--mode must be one of ${IMPORT_MODES.join(", ")}, got \`${a.mode}\``);
  const expected = a.expectOpen !== undefined ? parsePorts(a.expectOpen) : null;
  if (a.expectOpen !== undefined && !expected) throw usageError(`--expect-open must be ports like 22,443, got \`${a.expectOpen}\``);
  const profile = loadProfile(a.profile);
  const specs = [...a.targets, ...(a.targetsFile ? readTargetsFile(a.targetsFile) : [])];
  if (!specs.length) throw usageError("no targets: give addresses, CIDRs, ranges or hostnames, or --targets-file");
  const word = specs.find((s) => /^[A-Za-z][A-Za-z0-9_-]*$/.test(s));
  if (word && !a.resolve) throw usageError(`\`${word}\` is neither an address nor a host name with a dot (not a subcommand either: see falc scan --help); give --resolve to look it up in DNS`);
  const ledger = Ledger.open(config.home);
  try {
    ledger.projectId(a.project);
    const set = await expandTargets(specs, {
      maxTargets: cfg.max_targets, scope: scopeOf(config), resolve: resolver,
      inLedger: a.skipKnown ? (ip) => ledger.hasHost(a.project, ip) : undefined,
    });
    const before = new Set(ledger.hosts(a.project).flatMap((h) => h.ports.map((p) => `${h.ip} ${p.proto}/${p.port}`)));
    return { profile, project: a.project, mode, parallel: a.parallel ?? cfg.parallel, targets: set.targets, refused: set.refused, expected, before };
  } finally {
    ledger.close();
  }
}

/** Refusals for a person: the count, and the first few (a /16 outside scope is 65 536 of them). */
export function refusalLines(refused: Refusal[], max = 10): string[] {
  if (!refused.length) return [];
  const by = new Map<string, number>();
  for (const r of refused) by.set(r.reason, (by.get(r.reason) ?? 0) + 1);
  const lines = [`refused ${refused.length} target${refused.length === 1 ? "" : "s"} (${[...by].map(([k, n]) => `${n} ${k}`).join(", ")})${refused.length > max ? `; the first ${max}:` : ":"}`];
  for (const r of refused.slice(0, max)) lines.push(`  ${r.ip ?? r.input} (${r.reason}): ${r.detail}`);
  return lines;
}

/**
 * Queue a run. With host discovery (the profile's default) and more than one target: ONE sweep task,
 * whose worker runs the run's single `nmap -sn` and queues a task per live host (sweep-task.ts), so a
 * dead address costs a line of the sweep, not an nmap of its own. Without it (or for one target): one
 * task per target. A target that already has a scan queued or running, in either form, is refused
 * here (its task would only wait for the other).
 */
export async function submitScan(q: Queue, plan: ScanPlan, profileArg: string): Promise<{ runId: string; tasks: { id: string; target: string }[]; busy: string[]; sweep?: string }> {
  // Unique per submit: the sweep's target tasks are named after it.
  const runId = `scan-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const active = new Set<string>();
  for (const t of await q.list({ stage: "scan", status: ["created", "queued", "requested", "started"], limit: 1_000_000 })) {
    const p = t.payload as { target?: string; targets?: string[] };
    if (p.target) active.add(String(p.target));
    for (const ip of p.targets ?? []) active.add(String(ip));
  }
  const todo = plan.targets.filter((t) => !active.has(t.ip));
  const busy = plan.targets.filter((t) => active.has(t.ip)).map((t) => t.ip);
  const profile = plan.profile.name === profileArg ? profileArg : plan.profile;
  if (todo.length > 1 && !plan.profile.skip_host_discovery) {
    const hostnames = Object.fromEntries(todo.filter((t) => t.hostnames.length).map((t) => [t.ip, t.hostnames]));
    const sweep = await q.enqueue({ stage: "scan", payload: { targets: todo.map((t) => t.ip), hostnames, profile, project: plan.project, mode: plan.mode, run_id: runId } });
    return { runId, tasks: [{ id: sweep.id, target: `${todo.length} targets (host sweep)` }], busy, sweep: sweep.id };
  }
  const tasks = todo.length ? await q.enqueueMany(todo.map((t) => ({ stage: "scan", payload: { target: t.ip, hostnames: t.hostnames, profile, project: plan.project, mode: plan.mode, run_id: runId } }))) : [];
  return { runId, tasks: tasks.map((t) => ({ id: t.id, target: (t.payload as { target: string }).target })), busy };
}
