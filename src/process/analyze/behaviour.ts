/**
 * Behaviour summary from JSON-lines event files: a process list and tree (Cuckoo3's process tracker:
 * a new process's parent is the running process with its ppid), files written/deleted/read, registry
 * keys set/deleted, network connections, mutexes. Bad lines are counted and a few kept, never fatal.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type BehaviourEvent, eventSchema } from "./events.ts";

export interface ProcessInfo {
  procid: number;
  pid: number;
  ppid: number | null;
  parent_procid: number | null;
  image: string;
  name: string;
  commandline: string;
  state: "running" | "terminated";
  start_ts: number;
  end_ts: number | null;
  tracked: boolean;
}

export interface ProcessNode {
  procid: number;
  pid: number;
  name: string;
  image: string;
  commandline: string;
  children: ProcessNode[];
}

export interface BadLine {
  file: string;
  line: number;
  error: string;
}

export interface BehaviourSummary {
  processes: { count: number; process_list: ProcessInfo[] };
  process_tree: ProcessNode[];
  files: { created: string[]; written: string[]; read: string[]; deleted: string[]; renamed: { from: string; to: string }[] };
  registry: { set: { key: string; value?: string; data?: string | number }[]; created: string[]; read: string[]; deleted: string[] };
  network: {
    connections: { pid: number; process: string; dst: string; port: number | null; proto: string }[];
    listening: { pid: number; process: string; port: number | null; proto: string }[];
    dns: string[];
  };
  mutexes: string[];
  injections: { pid: number; process: string; target_pid: number; target: string }[];
  stats: { events: number; by_type: Record<string, number>; bad_lines: number; files: number; truncated: boolean };
  bad_lines: BadLine[];
}

export interface BehaviourLimits {
  maxEvents: number;
  /** Entries kept per list. */
  maxList: number;
  maxLineLength: number;
  badLinesKept: number;
}

export const BEHAVIOUR_LIMITS: BehaviourLimits = { maxEvents: 2_000_000, maxList: 2000, maxLineLength: 1024 * 1024, badLinesKept: 20 };

function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] ?? p;
}

class UniqueList<T> {
  readonly items: T[] = [];
  private readonly seen = new Set<string>();
  truncated = false;
  constructor(private readonly cap: number) {}
  add(item: T, key = typeof item === "string" ? (item as string) : JSON.stringify(item)): void {
    if (this.seen.has(key)) return;
    if (this.items.length >= this.cap) {
      this.truncated = true;
      return;
    }
    this.seen.add(key);
    this.items.push(item);
  }
}

/** Reads and validates events/*.json of a task directory; bad lines are returned, not thrown. */
export function readEvents(eventsDir: string, limits: BehaviourLimits = BEHAVIOUR_LIMITS): { events: BehaviourEvent[]; bad: BadLine[]; badCount: number; files: number; truncated: boolean } {
  let names: string[] = [];
  try {
    names = readdirSync(eventsDir).filter((n) => n.endsWith(".json") && statSync(join(eventsDir, n)).isFile()).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const events: { e: BehaviourEvent; seq: number }[] = [];
  const bad: BadLine[] = [];
  let badCount = 0;
  let truncated = false;
  const badLine = (file: string, line: number, error: string) => {
    badCount++;
    if (bad.length < limits.badLinesKept) bad.push({ file, line, error: error.slice(0, 300) });
  };
  outer: for (const name of names) {
    const content = readFileSync(join(eventsDir, name), "utf8");
    let lineNo = 0;
    for (const raw of content.split("\n")) {
      lineNo++;
      const line = raw.trim();
      if (!line) continue;
      if (events.length >= limits.maxEvents) {
        truncated = true;
        break outer;
      }
      if (line.length > limits.maxLineLength) {
        badLine(name, lineNo, `line longer than ${limits.maxLineLength} characters`);
        continue;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        badLine(name, lineNo, `not JSON: ${(e as Error).message}`);
        continue;
      }
      const r = eventSchema.safeParse(obj);
      if (!r.success) {
        const issue = r.error.issues[0];
        badLine(name, lineNo, issue ? `${issue.path.join(".") || "event"}: ${issue.message}` : "invalid event");
        continue;
      }
      events.push({ e: r.data, seq: events.length });
    }
  }
  // Several files (one per monitored process, say) merge in time order; equal times keep file order.
  events.sort((a, b) => a.e.ts - b.e.ts || a.seq - b.seq);
  return { events: events.map((x) => x.e), bad, badCount, files: names.length, truncated };
}

export function summarize(events: BehaviourEvent[], limits: BehaviourLimits = BEHAVIOUR_LIMITS): Omit<BehaviourSummary, "bad_lines" | "stats"> & { truncated: boolean } {
  const procs: ProcessInfo[] = [];
  const running = new Map<number, ProcessInfo>();
  const L = limits.maxList;
  const files = { created: new UniqueList<string>(L), written: new UniqueList<string>(L), read: new UniqueList<string>(L), deleted: new UniqueList<string>(L), renamed: new UniqueList<{ from: string; to: string }>(L) };
  const reg = { set: new UniqueList<{ key: string; value?: string; data?: string | number }>(L), created: new UniqueList<string>(L), read: new UniqueList<string>(L), deleted: new UniqueList<string>(L) };
  const conns = new UniqueList<{ pid: number; process: string; dst: string; port: number | null; proto: string }>(L);
  const listening = new UniqueList<{ pid: number; process: string; port: number | null; proto: string }>(L);
  const dns = new UniqueList<string>(L);
  const mutexes = new UniqueList<string>(L);
  const injections = new UniqueList<{ pid: number; process: string; target_pid: number; target: string }>(L);

  const procName = (pid: number, image?: string) => (image ? baseName(image) : running.get(pid)?.name ?? "");
  const ensure = (pid: number, ts: number, image?: string): ProcessInfo => {
    let p = running.get(pid);
    if (!p) {
      // A process seen only through its actions (it existed before monitoring began).
      p = newProc(pid, null, image ?? "", "", ts);
    }
    if (!p.image && image) {
      p.image = image;
      p.name = baseName(image);
    }
    return p;
  };
  const newProc = (pid: number, ppid: number | null, image: string, cmdline: string, ts: number): ProcessInfo => {
    const parent = ppid !== null ? running.get(ppid) : undefined;
    const p: ProcessInfo = {
      procid: procs.length + 1,
      pid,
      ppid,
      parent_procid: parent?.procid ?? null,
      image,
      name: baseName(image),
      commandline: cmdline,
      state: "running",
      start_ts: ts,
      end_ts: null,
      tracked: true,
    };
    procs.push(p);
    running.set(pid, p);
    return p;
  };

  for (const e of events) {
    switch (e.type) {
      case "process":
        if (e.action === "create") {
          // The creating event's pid is the new process; ppid its parent (as Cuckoo3's monitor reports).
          if (e.ppid !== undefined && !running.has(e.ppid)) ensure(e.ppid, e.ts);
          newProc(e.pid, e.ppid ?? null, e.image ?? "", e.cmdline ?? "", e.ts);
        } else if (e.action === "terminate") {
          const p = running.get(e.pid);
          if (p) {
            p.state = "terminated";
            p.end_ts = e.ts;
            running.delete(e.pid);
          }
        } else if (e.action === "inject" && e.target_pid !== undefined) {
          ensure(e.pid, e.ts, e.image);
          injections.add({ pid: e.pid, process: procName(e.pid, e.image), target_pid: e.target_pid, target: procName(e.target_pid) });
        }
        break;
      case "file":
        ensure(e.pid, e.ts, e.image);
        if (e.action === "rename") files.renamed.add({ from: e.path, to: e.dest_path ?? "" });
        else if (e.action === "create") files.created.add(e.path);
        else if (e.action === "write") files.written.add(e.path);
        else if (e.action === "read") files.read.add(e.path);
        else files.deleted.add(e.path);
        break;
      case "registry":
        ensure(e.pid, e.ts, e.image);
        if (e.action === "set") reg.set.add({ key: e.key, value: e.value, data: e.data });
        else if (e.action === "create") reg.created.add(e.key);
        else if (e.action === "read") reg.read.add(e.key);
        else reg.deleted.add(e.value ? `${e.key}\\${e.value}` : e.key);
        break;
      case "network": {
        ensure(e.pid, e.ts, e.image);
        const process = procName(e.pid, e.image);
        if (e.action === "dns") {
          if (e.domain) dns.add(e.domain.toLowerCase());
        } else if (e.action === "listen") listening.add({ pid: e.pid, process, port: e.port ?? null, proto: e.proto ?? "tcp" });
        else if (e.dst) conns.add({ pid: e.pid, process, dst: e.dst, port: e.port ?? null, proto: e.proto ?? "tcp" });
        break;
      }
      case "mutex":
        ensure(e.pid, e.ts, e.image);
        mutexes.add(e.name);
        break;
    }
  }

  const nodes = new Map<number, ProcessNode>(procs.map((p) => [p.procid, { procid: p.procid, pid: p.pid, name: p.name, image: p.image, commandline: p.commandline, children: [] }]));
  const roots: ProcessNode[] = [];
  for (const p of procs) {
    const n = nodes.get(p.procid)!;
    const parent = p.parent_procid !== null ? nodes.get(p.parent_procid) : undefined;
    if (parent) parent.children.push(n);
    else roots.push(n);
  }
  const lists = [files.created, files.written, files.read, files.deleted, files.renamed, reg.set, reg.created, reg.read, reg.deleted, conns, listening, dns, mutexes, injections];
  return {
    processes: { count: procs.length, process_list: procs.slice(0, L * 5) },
    process_tree: roots,
    files: { created: files.created.items, written: files.written.items, read: files.read.items, deleted: files.deleted.items, renamed: files.renamed.items },
    registry: { set: reg.set.items, created: reg.created.items, read: reg.read.items, deleted: reg.deleted.items },
    network: { connections: conns.items, listening: listening.items, dns: dns.items },
    mutexes: mutexes.items,
    injections: injections.items,
    truncated: lists.some((l) => l.truncated) || procs.length > L * 5,
  };
}

/** readEvents + summarize for a task directory. */
export function behaviourOf(taskDir: string, limits: BehaviourLimits = BEHAVIOUR_LIMITS): BehaviourSummary {
  const r = readEvents(join(taskDir, "events"), limits);
  const s = summarize(r.events, limits);
  const byType: Record<string, number> = {};
  for (const e of r.events) byType[e.type] = (byType[e.type] ?? 0) + 1;
  const { truncated, ...rest } = s;
  return {
    ...rest,
    stats: { events: r.events.length, by_type: byType, bad_lines: r.badCount, files: r.files, truncated: truncated || r.truncated },
    bad_lines: r.bad,
  };
}
