import { FalcError } from "../core/errors.ts";

/** Stage commands whose issue has not landed yet answer this, with exit 2. */
export function notBuilt(what: string): never {
  throw new FalcError("not_built", `\`falc ${what}\` is not built yet in this version`);
}
