/**
 * Typed errors. The CLI turns any FalcError into one line on stderr and its exit code;
 * anything else is a bug and is still printed as one line (the stack only with FALC_DEBUG=1).
 */
export type ErrorCode =
  | "usage"
  | "config"
  | "not_found"
  | "invalid_input"
  | "conflict"
  | "unavailable"
  | "work_failed"
  | "internal";

/** Exit codes a CI step can trust: 0 ok, 1 work failed, 2 usage/config/input error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const exitFor: Record<ErrorCode, number> = {
  usage: EXIT.usage,
  config: EXIT.usage,
  invalid_input: EXIT.usage,
  not_found: EXIT.failed,
  conflict: EXIT.failed,
  unavailable: EXIT.failed,
  work_failed: EXIT.failed,
  internal: EXIT.failed,
};

export class FalcError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "FalcError";
    this.code = code;
    this.exitCode = exitFor[code];
    this.details = details;
  }
}

export const usageError = (msg: string, details?: Record<string, unknown>) => new FalcError("usage", msg, details);
export const configError = (msg: string, details?: Record<string, unknown>) => new FalcError("config", msg, details);
export const inputError = (msg: string, details?: Record<string, unknown>) => new FalcError("invalid_input", msg, details);
export const notFound = (msg: string, details?: Record<string, unknown>) => new FalcError("not_found", msg, details);
export const conflict = (msg: string, details?: Record<string, unknown>) => new FalcError("conflict", msg, details);
export const unavailable = (msg: string, details?: Record<string, unknown>) => new FalcError("unavailable", msg, details);
export const workFailed = (msg: string, details?: Record<string, unknown>) => new FalcError("work_failed", msg, details);

export function isFalcError(e: unknown): e is FalcError {
  return e instanceof FalcError;
}

/** One line for a user: never a stack trace. */
export function errorLine(e: unknown): string {
  if (e instanceof FalcError) return e.message;
  if (e instanceof Error) return e.message.split("\n")[0] || e.name;
  return String(e);
}

/** Serializable form of an error, for task records and IPC. The stack is kept for tracebacks in reports. */
export interface ErrorInfo {
  message: string;
  code?: string;
  stack?: string;
}

export function toErrorInfo(e: unknown): ErrorInfo {
  if (e instanceof FalcError) return { message: e.message, code: e.code, stack: e.stack };
  if (e instanceof Error) return { message: e.message, code: (e as { code?: string }).code, stack: e.stack };
  return { message: String(e) };
}
