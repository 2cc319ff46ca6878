import { Command, Option } from "clipanion";
import { existsSync, readFileSync } from "node:fs";
import { FalcCommand } from "../../src/cli/base.ts";
import { conflict, errorLine, FalcError } from "../../src/core/errors.ts";

export class SyncKeygenCommand extends FalcCommand {
  static paths = [["sync", "keygen"]];
  static usage = Command.Usage({
    category: "Sync",
    description: "Write a new random cluster key (32 bytes, hex) to a file with mode 600",
    details: "Copy the same file to the master and every worker. `openssl rand -hex 32 > cluster.key && chmod 600 cluster.key` makes an equivalent one.",
    examples: [["A key for a new cluster", "falc sync keygen --out cluster.key"]],
  });
  outFile = Option.String("--out", { required: true, description: "Where to write the key" });
  force = Option.Boolean("--force", false, { description: "Replace an existing file" });

  async run() {
    const { writeFileAtomic } = await import("../../src/core/atomic.ts");
    const { generateKey } = await import("../../src/sync/crypto.ts");
    if (existsSync(this.outFile) && !this.force) throw conflict(`${this.outFile} exists; use --force to replace it (every node then needs the new key)`);
    const key = generateKey() + "\n";
    try {
      writeFileAtomic(this.outFile, key, 0o600);
    } catch (e) {
      // After the rename only the directory's flush can fail: the key is there but not durable.
      const written = existsSync(this.outFile) && readFileSync(this.outFile, "utf8") === key;
      throw new FalcError("work_failed", written ? `wrote the key to ${this.outFile} but could not flush its directory (${errorLine(e)}): a crash may lose it; write it where you can read the directory` : `cannot write ${this.outFile}: ${errorLine(e)}`);
    }
    if (this.json) this.outJson({ path: this.outFile });
    else this.out(`wrote a new cluster key to ${this.outFile} (mode 600)`);
  }
}
