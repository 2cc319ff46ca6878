import { z } from "zod";

export const ENGINE_NAMES = ["gvisor", "bwrap", "docker"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
export const engineChoiceSchema = z.enum(["gvisor", "bwrap", "docker", "auto"]);
export type EngineChoice = z.infer<typeof engineChoiceSchema>;

export const EVAL_STATUSES = ["completed", "failed", "timeout", "memory_limit", "output_limit", "compile_error", "error"] as const;
export type EvalStatus = (typeof EVAL_STATUSES)[number];

/** Limits for one evaluation. Sizes in bytes, times in ms. */
export interface Limits {
  wallMs: number;
  cpuMs: number;
  memoryBytes: number;
  pids: number;
  /** Per stream (stdout and stderr each). */
  outputBytes: number;
  /** Largest file the code may write (RLIMIT_FSIZE) and the size of its tmpfs workdir. */
  fileBytes: number;
  diskBytes: number;
}

export interface EvalRequest {
  /** The program's source (or, inside falc, a compiled binary). */
  code: string | Uint8Array;
  language: string;
  engine: EngineChoice;
  limits: Limits;
  /** Bytes fed to the program's stdin (default: none). */
  stdin?: Uint8Array;
}

export interface EngineFallback {
  engine: EngineName;
  reason: string;
}

export interface EvalResult {
  status: EvalStatus;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The exact bytes, base64, present only when stdout is not valid UTF-8 (stdout is then lossy). */
  stdout_b64?: string;
  stderr_b64?: string;
  truncated: { stdout: boolean; stderr: boolean };
  duration_ms: number;
  cpu_ms: number | null;
  max_rss_kb: number | null;
  engine: EngineName | null;
  /** Engines tried before the one that ran, and why each was skipped. Empty when the first choice ran. */
  fallbacks: EngineFallback[];
  /** Why the status is error (or which limit was hit), one line. */
  reason?: string;
  /** What the compiler printed (compiled languages only), kept on success (warnings) and on compile_error. */
  compile_output?: string;
  /** True when a gVisor sandbox booted ahead (the warm pool) ran it. */
  pooled?: boolean;
  /** Values asked for above the operator's ceilings and lowered to them (eval.over_max: clamp). */
  clamped?: { field: string; asked: number; max: number }[];
}

/** Thrown by an engine's check when it cannot run here; auto mode falls back to the next engine. */
export class EngineUnavailable extends Error {
  constructor(readonly engine: EngineName, reason: string) {
    super(reason);
    this.name = "EngineUnavailable";
  }
}
