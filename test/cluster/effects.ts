import { readFileSync } from "node:fs";

/** One run of a task as the effects stage recorded it (fixtures/stages/effects-stage.ts). */
export interface Run {
  task: string;
  attempt: number;
  node: string;
  pid: number;
  start: bigint;
  last: bigint;
  ended: boolean;
}

export function readRuns(file: string): Run[] {
  const runs = new Map<string, Run>();
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  for (const line of text.split("\n")) {
    const [kind, task, attempt, node, pid, ns] = line.split(" ");
    if (!kind || !ns) continue;
    const key = `${task} ${attempt} ${node} ${pid}`;
    const t = BigInt(ns);
    let r = runs.get(key);
    if (!r) runs.set(key, (r = { task: task!, attempt: Number(attempt), node: node!, pid: Number(pid), start: t, last: t, ended: false }));
    if (t < r.start) r.start = t;
    if (t > r.last) r.last = t;
    if (kind === "end") r.ended = true;
  }
  return [...runs.values()];
}

/** Pairs of runs of one task whose intervals [start, last record] overlap: must be empty. */
export function overlaps(runs: Run[]): [Run, Run][] {
  const byTask = new Map<string, Run[]>();
  for (const r of runs) byTask.set(r.task, [...(byTask.get(r.task) ?? []), r]);
  const out: [Run, Run][] = [];
  for (const rs of byTask.values()) {
    rs.sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < rs.length; i++) if (rs[i]!.start <= rs[i - 1]!.last) out.push([rs[i - 1]!, rs[i]!]);
  }
  return out;
}
