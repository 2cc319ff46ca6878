import { closeSync, copyFileSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { fsyncDir } from "../core/atomic.ts";
import { join, resolve } from "node:path";
import { conflict, inputError } from "../core/errors.ts";
import { splitTaskId } from "./ids.ts";
import { taskPaths } from "./layout.ts";
import { assertAnalysisMove, assertTaskMove } from "./states.ts";
import { type Store, readTask, updateAnalysis, writeTask } from "./storage.ts";
import type { TaskDoc } from "./schemas.ts";

export interface CollectedFiles {
  events: string[];
  pcap: string | null;
}

/** Find a collected task directory's files: `events/*.json` (or `*.json` at its top) and `dump.pcap`. */
export function collectedFiles(dir: string): CollectedFiles {
  const abs = resolve(dir);
  let st;
  try {
    st = lstatSync(abs);
  } catch {
    throw inputError(`${abs}: no such directory`);
  }
  if (!st.isDirectory()) throw inputError(`${abs}: not a directory`);
  const evDir = existsSync(join(abs, "events")) ? join(abs, "events") : abs;
  const regular = (p: string) => lstatSync(p).isFile();
  const events = readdirSync(evDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => join(evDir, f))
    .filter(regular);
  const pcapPath = join(abs, "dump.pcap");
  const pcap = existsSync(pcapPath) && regular(pcapPath) ? pcapPath : null;
  if (!events.length && !pcap) throw inputError(`${abs}: no behaviour to attach (expected events/*.json JSON-lines files and/or dump.pcap)`);
  for (const f of events) checkJsonLines(f);
  return { events, pcap };
}

/** Each non-empty line an event object: a bad collector output is refused with its file and line. */
export function checkJsonLines(path: string): void {
  const text = readFileSync(path, "utf8");
  let line = 0;
  for (const raw of text.split("\n")) {
    line++;
    const s = raw.trim();
    if (!s) continue;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      throw inputError(`${path}:${line}: not JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) throw inputError(`${path}:${line}: an event must be a JSON object`);
  }
}

function copyDurably(src: string, dest: string): void {
  copyFileSync(src, dest);
  const fd = openSync(dest, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Put collected behaviour into task_<n>/ (replacing what an earlier run left) and make the task
 * pending_post: Cuckoo3's pending → run_completed → pending_post, or a reported/failed task again.
 */
export async function attachBehaviour(store: Store, taskId: string, files: CollectedFiles): Promise<TaskDoc> {
  const { analysisId } = splitTaskId(taskId);
  const tp = taskPaths(store, taskId);
  const { value } = await updateAnalysis(store, analysisId, (a) => {
    if (a.state !== "tasks_pending" && a.state !== "finished") throw conflict(`analysis ${analysisId} is ${a.state}: behaviour can only be attached once pre has created its tasks`);
    const task = readTask(store, taskId);
    const staging = join(tp.dir, `.incoming-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(join(staging, "events"), { recursive: true });
    for (const f of files.events) copyDurably(f, join(staging, "events", f.slice(f.lastIndexOf("/") + 1)));
    if (files.pcap) copyDurably(files.pcap, join(staging, "dump.pcap"));
    fsyncDir(join(staging, "events"));
    rmSync(tp.events, { recursive: true, force: true });
    rmSync(tp.pcap, { force: true });
    renameSync(join(staging, "events"), tp.events);
    if (files.pcap) renameSync(join(staging, "dump.pcap"), tp.pcap);
    rmSync(staging, { recursive: true, force: true });
    // task_<n>/ itself is synced when this update commits.

    if (task.state === "pending") {
      assertTaskMove(task.id, task.state, "run_completed");
      task.state = "run_completed";
    }
    if (task.state !== "pending_post") {
      assertTaskMove(task.id, task.state, "pending_post");
      task.state = "pending_post";
    }
    writeTask(store, task);
    const entry = a.tasks.find((t) => t.id === taskId);
    if (entry) entry.state = task.state;
    if (a.state === "finished") {
      assertAnalysisMove(a.id, a.state, "tasks_pending");
      a.state = "tasks_pending";
    }
    return task;
  });
  return value;
}
