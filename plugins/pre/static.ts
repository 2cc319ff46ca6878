/**
 * pre: static analysis of the target, under Cuckoo3's subkeys: `pe` (headers, sections, imports,
 * exports, imphash, resources, version info), `elf` (header, sections, segments, symbols, needed
 * libraries, interpreter) or `office` (application, macros). Other types give {}.
 */
import { FormatError, bufferSource } from "../../src/process/analyze/bytes.ts";
import { parseElf } from "../../src/process/analyze/elf.ts";
import { structuralType } from "../../src/process/analyze/filetype.ts";
import { parsePe } from "../../src/process/analyze/pe.ts";
import { loadTarget } from "../../src/process/analyze/target.ts";
import type { PluginApi, Processor } from "../../src/process/plugin.ts";

export default (_api: PluginApi): Processor => ({
  kind: "processor",
  NAME: "static",
  ORDER: 10,
  KEY: "static",
  STAGE: "pre",
  CATEGORY: ["file"],
  async start(ctx) {
    try {
      const buf = await loadTarget(ctx);
      const type = structuralType(bufferSource(buf), ctx.target.category === "file" ? ctx.target.filename : undefined);
      if (type.kind === "pe") return { pe: parsePe(buf) };
      if (type.kind === "elf") return { elf: parseElf(buf) };
      if (type.office) return { office: type.office };
      return {};
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      ctx.errors.add(`static: ${e.message}`);
      return {};
    }
  },
});
