let seq = 0;

/** A new evaluation id. The owner's pid comes first so a later sweep can tell whose leftovers these are. */
export function evalId(): string {
  return `${process.pid.toString(36)}-${Date.now().toString(36)}${(seq++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
