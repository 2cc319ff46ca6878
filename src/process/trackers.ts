import { inputError } from "../core/errors.ts";
import type { ErrorTracker, Signature, SignatureTracker, StageErrors } from "./plugin.ts";
import { signatureSchema } from "./schemas.ts";

/** A stage's errors in Cuckoo3's layout; each plugin adds through its own view, prefixed with its NAME. */
export class StageErrorLog {
  readonly errors: string[] = [];
  readonly fatal: { error: string; traceback: string }[] = [];

  /** Messages carry the plugin's name once: a plugin that already starts its message with it is not named twice. */
  forPlugin(name: string): ErrorTracker {
    return {
      add: (e) => {
        const msg = e instanceof Error ? e.message : String(e);
        this.errors.push(msg.startsWith(`${name}: `) ? msg : `${name}: ${msg}`);
      },
    };
  }

  addFatal(error: string, traceback = ""): void {
    this.fatal.push({ error, traceback });
  }

  snapshot(): StageErrors {
    return { errors: [...this.errors], fatal: this.fatal.map((f) => ({ ...f })) };
  }
}

/** At most this many iocs are kept per signature, so a noisy signature cannot bloat the report. */
export const MAX_IOCS = 100;

/** Signatures by name (plugin output, checked as it comes in); a repeat only adds its iocs. */
export class Signatures implements SignatureTracker {
  private byName = new Map<string, Signature>();

  add(sig: Signature): void {
    const r = signatureSchema.safeParse(sig);
    if (!r.success) {
      const i = r.error.issues[0]!;
      const name = typeof (sig as { name?: unknown })?.name === "string" ? (sig as { name: string }).name : "(unnamed)";
      throw inputError(`signature ${name}: key \`${i.path.join(".") || "(signature)"}\`: ${i.message}`);
    }
    const s = r.data as Signature;
    const have = this.byName.get(s.name);
    if (!have) {
      this.byName.set(s.name, { ...s, iocs: (s.iocs ?? []).slice(0, MAX_IOCS) });
      return;
    }
    const iocs = (have.iocs ??= []);
    for (const ioc of s.iocs ?? []) if (iocs.length < MAX_IOCS) iocs.push(ioc);
    // The same signature triggering at a higher level keeps the higher one.
    if (s.score > have.score) have.score = s.score;
  }

  list(): Signature[] {
    return [...this.byName.values()].sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
  }

  score(): number {
    let max = 0;
    for (const s of this.byName.values()) if (s.score > max) max = s.score;
    return max;
  }
}

/** Cuckoo3's families, tags and ttps of an analysis or task: the union over its signatures. */
export function signatureLabels(sigs: Signature[]): { families: string[]; tags: string[]; ttps: string[] } {
  const families = new Set<string>();
  const tags = new Set<string>();
  const ttps = new Set<string>();
  for (const s of sigs) {
    if (s.family) families.add(s.family);
    for (const t of s.tags ?? []) tags.add(t);
    for (const t of s.ttps ?? []) ttps.add(t);
  }
  return { families: [...families].sort(), tags: [...tags].sort(), ttps: [...ttps].sort() };
}
