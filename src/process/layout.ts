/**
 * Where `falc process` keeps an analysis, and what each file holds. One source of truth for the
 * stage runner, the plugins and anyone reading analyses with Cuckoo3 tooling (same layout, same keys).
 *
 * FALC_HOME/storage/
 *   binaries/<h0>/<h1>/<sha256>          content-addressed copy of every submitted or selected file
 *                                        (read-only; h0, h1 = the first two hex digits of the sha256)
 *   analyses/YYYYMMDD/XXXXXX/            analysis id `YYYYMMDD-XXXXXX` (UTC day, 6 of A-Z0-9)
 *     analysis.json                      id, kind, state, score, settings, created_on, category,
 *                                        submitted, target (set after pre), errors, tasks[], families, tags, ttps
 *     binary                             symlink to the submitted file in binaries/ (file analyses only)
 *     identification.json                the `identify` processor's result at the top level:
 *                                          identified: bool, selected: bool, category: "file"|"url",
 *                                          target: { filename, orig_filename, size, filetype, media_type,
 *                                                    extrpath: string[], container: bool, md5, sha1, sha256,
 *                                                    sha512, platforms: [{platform, os_version}] }
 *                                                  (url analyses: { url, platforms })
 *                                          ignored: [{filename, filetype?, reason}]
 *                                        plus every other identification processor's result under its KEY,
 *                                        and `errors`
 *     pre.json                           analysis_id, category, target (identification's), score, signatures,
 *                                        families, tags, ttps, each pre processor's result under its KEY
 *                                        (static, strings, …), and `errors`
 *     report.html                        self-contained HTML report of identification + pre
 *     task_<n>/                          task id `<analysis id>_<n>`, n from 1, one task per platform
 *       task.json                        id, analysis_id, kind, state, number, score, platform, os_version,
 *                                        machine_tags, machine, errors
 *       events/*.json                    collected behaviour: JSON lines, one event object per line
 *       dump.pcap                        collected network traffic, when there is any
 *       report.json                      task_id, score, signatures, families, tags, ttps, each post
 *                                        processor's result under its KEY, and `errors`
 *       report.html                      self-contained HTML report of the task
 *
 * `errors` everywhere is Cuckoo3's layout: {"errors": ["NAME: message", ...], "fatal": [{"error", "traceback"}]}.
 * A stage's errors go into its own file and are merged into analysis.json (task.json for post).
 *
 * Durability (durable.ts), what a reader can rely on, after a crash or a power cut included:
 *  - A file under one of the names above is complete. It is written under a temporary name
 *    (`.<name>.<pid>.<random>.tmp`, or binaries/.incoming-<host>-<pid>-<random>) and renamed only
 *    after a syncfs has made its bytes durable.
 *  - A state never runs ahead of its files: stage documents (identification.json, pre.json,
 *    report.json, report.html) and stored binaries are renamed and synced before the analysis.json /
 *    task.json that moves the state on. `binary` never points to a missing copy.
 *  - A stage is reported done (queue task finished, next stage queued, `falc process` summary printed)
 *    only once all it wrote is durable: three syncfs per commit (data; barrier; final), not an fsync
 *    per file and directory.
 *  - A new analysis is built in analyses/.staging/<host>-<pid>/<id>/ (files written in place, no
 *    fsync each) and renamed to analyses/YYYYMMDD/XXXXXX in whole at its commit (renameat2
 *    RENAME_NOREPLACE: never over an existing analysis; without it the directory is reserved empty
 *    beforehand and renamed over). `falc process FILE...` commits its new analyses in groups, about
 *    once a second and at the end; a directory under analyses/YYYYMMDD/ is always a whole analysis.
 *    A write that fails leaves that analysis unpublished, the rest of the group is published.
 *  - A stage on a published analysis (a worker's identification, pre, post) commits when it updates
 *    analysis.json; a stage that fails or is cancelled before that publishes nothing.
 *  - A killed process leaves only temporary names and its staging directory; the next `falc process`
 *    on the same host removes those of dead processes, and a stage starting on an analysis removes
 *    dead processes' temps in its directory.
 *  Without syncfs (not Linux/glibc and no coreutils `sync`) each file and directory is fsynced instead,
 *  in the same order.
 *
 * When `identify` is not among the identification processors, the core derives the identification
 * from what it has (the submission, and `fallback_identify` when present) so pre can still run.
 * In pre and post, ctx.target is the selected target: `path` is the submitted file (binaries/…), and
 * for a file selected inside it `extrpath` says where (identification's target.extrpath), while
 * filename, size and hashes are the selected file's.
 */
import { join, resolve } from "node:path";
import { splitAnalysisId, splitTaskId } from "./ids.ts";
import type { Store } from "./storage.ts";

/**
 * Where analyses and binaries live: FALC_STORAGE, else FALC_HOME/storage. Nodes of a cluster that process one
 * another's analyses (identification on one, pre on another) point FALC_STORAGE at one shared filesystem.
 */
export function storageRoot(home: string): string {
  const shared = process.env.FALC_STORAGE;
  return shared ? resolve(shared) : join(home, "storage");
}

export function analysesRoot(home: string): string {
  return join(storageRoot(home), "analyses");
}

export function binariesRoot(home: string): string {
  return join(storageRoot(home), "binaries");
}

/** binaries/<h0>/<h1>/<sha256> (Cuckoo3's depth of 2). */
export function binaryPath(home: string, sha256: string): string {
  return join(binariesRoot(home), sha256[0]!, sha256[1]!, sha256);
}

export interface AnalysisPaths {
  dir: string;
  analysisJson: string;
  identificationJson: string;
  preJson: string;
  binary: string;
  reportHtml: string;
}

/** analyses/YYYYMMDD/XXXXXX, where the analysis lives once committed. */
export function analysisDir(home: string, analysisId: string): string {
  const { day, part } = splitAnalysisId(analysisId);
  return join(analysesRoot(home), day, part);
}

/** The analysis's files: in its staging directory while the store's group commit is creating it (durable.ts). */
export function analysisPaths(store: Store, analysisId: string): AnalysisPaths {
  const dir = store.tx.liveDir(analysisDir(store.home, analysisId));
  // Plain concatenation: dir is already normal (join below), the names are fixed; called often.
  return {
    dir,
    analysisJson: `${dir}/analysis.json`,
    identificationJson: `${dir}/identification.json`,
    preJson: `${dir}/pre.json`,
    binary: `${dir}/binary`,
    reportHtml: `${dir}/report.html`,
  };
}

export interface TaskPaths {
  dir: string;
  taskJson: string;
  reportJson: string;
  reportHtml: string;
  events: string;
  pcap: string;
}

export function taskPaths(store: Store, taskId: string): TaskPaths {
  const { analysisId, number } = splitTaskId(taskId);
  const dir = `${analysisPaths(store, analysisId).dir}/task_${number}`;
  return {
    dir,
    taskJson: `${dir}/task.json`,
    reportJson: `${dir}/report.json`,
    reportHtml: `${dir}/report.html`,
    events: `${dir}/events`,
    pcap: `${dir}/dump.pcap`,
  };
}
