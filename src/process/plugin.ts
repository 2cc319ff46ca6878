/**
 * The plugin API of `falc process`: Cuckoo3's Processor and Reporter as TypeScript objects.
 *
 * A plugin module (built in under plugins/, or a user's file from a plugin directory) exports
 * `default (api: PluginApi) => Plugin | Plugin[]`. Plugins get the host's packages through `api`
 * because a module loaded from disk by the compiled binary cannot import them by name.
 *
 * Cuckoo3 makes one instance per run and keeps run state on `self`; here a plugin is one object
 * whose per-run state lives on `ctx.state` (a fresh object per plugin per run).
 */
import type { z } from "zod";
import type { Logger } from "../core/logger.ts";

export type Category = "file" | "url";
export type ProcessingStage = "identification" | "pre" | "post";

/** Thrown from enabled/initOnce/init/start: the plugin is skipped for this run, not an error. */
export class DisablePlugin extends Error {
  constructor(message = "plugin disabled") {
    super(message);
    this.name = "DisablePlugin";
  }
}

/** Thrown by a plugin to stop the whole stage as fatal (Cuckoo3's CancelProcessing). */
export class CancelProcessing extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CancelProcessing";
  }
}

/** Non-fatal errors, kept in the stage's `errors.errors` list. */
export interface ErrorTracker {
  add(error: string | Error): void;
}

/** Cuckoo3 score levels: 1 informational, 6 suspicious, 8 likely malicious, 9 malicious, 10 known bad (a signature naming a family). */
export type ScoreLevel = 1 | 6 | 8 | 9 | 10;

/** A triggered signature (Cuckoo3 signature fields). The stage score is the max of their scores. */
export interface Signature {
  name: string;
  short_description: string;
  description?: string;
  score: ScoreLevel;
  family?: string;
  tags?: string[];
  ttps?: string[];
  /** What made it trigger: a few events, strings or addresses, as plain JSON. */
  iocs?: unknown[];
}

/** Signatures by name: adding one that already triggered only adds its iocs (as Cuckoo3 does). */
export interface SignatureTracker {
  add(sig: Signature): void;
  list(): Signature[];
}

export interface FileTarget {
  category: "file";
  /**
   * Absolute path of the content-addressed copy (the analysis's `binary`); until the copy is
   * committed (durable.ts: `falc process FILE...` commits in groups) it is the copy's temporary name:
   * same bytes, read-only.
   */
  path: string;
  filename: string;
  size: number;
  sha256: string;
  /**
   * The target's other hashes when already known: in pre and post identification's; in
   * identification the submission's, computed from the stored bytes as they were copied (absent
   * when only the sha256 was computed, as for `falc process --submit`).
   */
  md5?: string;
  sha1?: string;
  sha512?: string;
  /**
   * In pre and post: where the selected target lies inside the archive at `path` (identification's
   * target.extrpath); filename, size and hashes are then the selected file's. Empty or absent: the
   * target is the file at `path` itself.
   */
  extrpath?: string[];
}

export interface UrlTarget {
  category: "url";
  url: string;
}

export interface AnalysisSettings {
  password: string;
  extrpath: string[];
  platforms: { platform: string; os_version: string }[];
  options: Record<string, unknown>;
  timeout: number;
  priority: number;
}

export interface ProcessingContext {
  stage: ProcessingStage;
  analysisId: string;
  /** `<analysis>_<n>`, in post only. */
  taskId?: string;
  analysisDir: string;
  /** `analysisDir/task_<n>`, in post only: holds `events/*.json` (JSON lines) and `dump.pcap` when collected. */
  taskDir?: string;
  category: Category;
  target: FileTarget | UrlTarget;
  /** Results of the plugins of this stage that ran before (lower ORDER), by KEY. */
  results: Record<string, unknown>;
  /** identification.json as written (in pre and post). */
  identification?: Record<string, unknown>;
  /** pre.json as written (in post). */
  pre?: Record<string, unknown>;
  errors: ErrorTracker;
  signatures: SignatureTracker;
  log: Logger;
  /** Aborted when the task is cancelled or the worker stops: long loops should check it. */
  signal: AbortSignal;
  /** A scratch directory for this run, removed afterwards (zip extraction etc.). */
  workDir: string;
  /** This plugin's own config section: `process.plugins.<NAME>` in falc.yaml ({} when absent). */
  config: Record<string, unknown>;
  /** Per plugin, per run: carry state from init() to start() to cleanup(). */
  state: Record<string, unknown>;
  /**
   * analysis.json's settings as submitted: `password` of the submitted archive, `extrpath` (a file
   * to select inside it), `platforms` asked for, `options` (free-form, Cuckoo3's), timeout, priority.
   */
  settings?: AnalysisSettings;
}

export interface Processor {
  kind: "processor";
  NAME: string;
  /** Lower runs first; a processor sees the results of those before it in ctx.results. */
  ORDER: number;
  /** Where start()'s return value is stored; unique within a stage (a duplicate is a load error). */
  KEY: string;
  STAGE: ProcessingStage;
  CATEGORY: Category[];
  /** Only for targets of these platforms ("windows", "linux", "macos"); empty or absent = all. */
  PLATFORMS?: string[];
  /** Once per worker process; false (or DisablePlugin) leaves the plugin out. */
  enabled?(config: Record<string, unknown>): boolean;
  /** Once per worker process, after enabled(): compile rules, load tables. */
  initOnce?(config: Record<string, unknown>): void | Promise<void>;
  init?(ctx: ProcessingContext): void | Promise<void>;
  /** The work; the value (JSON-serialisable, or undefined for nothing) is stored under KEY. */
  start(ctx: ProcessingContext): unknown | Promise<unknown>;
  cleanup?(ctx: ProcessingContext): void | Promise<void>;
}

/** What a reporter gets: everything the stage produced. */
export interface ReportContext extends ProcessingContext {
  /** All processors' results of this stage, by KEY. */
  results: Record<string, unknown>;
  /** max of the signatures' scores, 0 when none. */
  score: number;
  /** `{errors: [...], fatal: [{error, traceback}]}` as it will be stored under the `errors` key. */
  errorReport: StageErrors;
  /**
   * The stage's document exactly as the JSON dump writes it (identification.json, pre.json or
   * task_<n>/report.json: Cuckoo3 top-level keys, results by KEY, signatures, score, errors).
   */
  document?: Record<string, unknown>;
}

export interface Reporter {
  kind: "reporter";
  NAME: string;
  ORDER: number;
  CATEGORY?: Category[];
  enabled?(config: Record<string, unknown>): boolean;
  initOnce?(config: Record<string, unknown>): void | Promise<void>;
  init?(ctx: ReportContext): void | Promise<void>;
  reportIdentification?(ctx: ReportContext): void | Promise<void>;
  reportPre?(ctx: ReportContext): void | Promise<void>;
  reportPost?(ctx: ReportContext): void | Promise<void>;
  cleanup?(ctx: ReportContext): void | Promise<void>;
}

export type Plugin = Processor | Reporter;

/** Cuckoo3's error layout, merged into the `errors` key of identification.json, pre.json and report.json. */
export interface StageErrors {
  errors: string[];
  fatal: { error: string; traceback: string }[];
}

/** What plugin modules get from the host. */
export interface PluginApi {
  z: typeof z;
  DisablePlugin: typeof DisablePlugin;
  CancelProcessing: typeof CancelProcessing;
  /**
   * Atomic file write for reporters: the file appears under its name, complete and durable, when the
   * stage commits (after all reporters ran; see layout.ts), never half-written.
   */
  writeFileAtomic(path: string, data: string | Uint8Array): void;
}

export type PluginFactory = (api: PluginApi) => Plugin | Plugin[] | Promise<Plugin | Plugin[]>;
