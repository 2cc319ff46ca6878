import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Samples, SAMPLE_PE_URL, sampleDir, samples, writePdf, zipWithPassword } from "../../test/process/samples.ts";
import { loadTarget } from "../../src/process/analyze/target.ts";
import type { Processor } from "../../src/process/plugin.ts";
import identifyFactory from "../identification/identify.ts";
import { type TestContext, loadProcessors, makeContext, runProcessor } from "../../test/process/plugins-testkit.ts";
import signaturesFactory from "./signatures.ts";
import staticFactory from "./static.ts";
import stringsFactory from "./strings.ts";
import yaraFactory from "./yara.ts";

let s: Samples;
let dir: string;
beforeAll(async () => {
  s = await samples();
  dir = join(sampleDir(), "pre");
  mkdirSync(dir, { recursive: true });
}, 60000);

const contexts: TestContext[] = [];
afterEach(() => contexts.splice(0).forEach((c) => c.dispose()));

async function one(f: (api: never) => Processor): Promise<Processor> {
  return (await loadProcessors(f as never))[0]!;
}

/** identification then every pre plugin in ORDER, sharing one context as the stage runner does. */
async function pre(path: string, filename: string, config: Record<string, Record<string, unknown>> = {}) {
  const ident = makeContext({ stage: "identification", path, filename, config: config.identify ?? {} });
  contexts.push(ident);
  const identification = (await runProcessor(await one(identifyFactory), ident)) as Record<string, unknown>;
  const plugins = [await one(staticFactory), await one(stringsFactory), await one(yaraFactory), await one(signaturesFactory)].sort((a, b) => a.ORDER - b.ORDER);
  const ctx = makeContext({ stage: "pre", path, filename, identification });
  contexts.push(ctx);
  for (const p of plugins) {
    ctx.config = config[p.NAME] ?? {};
    ctx.state = {};
    await runProcessor(p, ctx);
  }
  return { identification, ctx, results: ctx.results as Record<string, any> };
}

describe("pre plugins", () => {
  test("PE inside a password zip: re-extracted by extrpath; static, strings, yara and signatures", async () => {
    const zip = await zipWithPassword(join(dir, "pe.zip"), [s.pe64!], "pw123");
    const { identification, ctx, results } = await pre(zip, "pe.zip", { identify: { password: "pw123" } });
    expect((identification.target as { extrpath: string[] }).extrpath).toEqual(["sample64.exe"]);
    const pe = results.static.pe;
    expect(pe.pe_machine_type).toBe("IMAGE_FILE_MACHINE_AMD64");
    expect(pe.pe_imphash).toMatch(/^[0-9a-f]{32}$/);
    expect(pe.pe_imports.map((i: { dll: string }) => i.dll)).toContain("KERNEL32.dll");
    expect(pe.pe_resources.map((r: { name: string }) => r.name)).toEqual(["RT_RCDATA", "RT_VERSION"]);
    expect(results.strings.iocs.urls).toContain(SAMPLE_PE_URL);
    expect(results.yara.matches).toEqual([]);
    const sigs = Object.fromEntries(ctx.signatures.list().map((x) => [x.name, x.score]));
    expect(sigs.pe_process_injection_imports).toBe(8);
    expect(sigs.strings_autorun_key).toBe(6);
    expect(ctx.errorList).toEqual([]);
    // static, strings and yara shared one extraction.
    expect(await loadTarget(ctx)).toBe(await loadTarget(ctx));
  });

  test("ELF gives static.elf; a PDF gives {} and the JavaScript rule", async () => {
    expect(s.elf).toBeDefined();
    {
      const { results } = await pre(s.elf!, "hello");
      expect(results.static.elf.elf_header.machine).toBe("Advanced Micro Devices X86-64");
      expect(results.static.elf.elf_exports).toContain("falc_export");
    }
    const pdf = join(dir, "doc.pdf");
    writeFileSync(pdf, writePdf());
    const { results, ctx } = await pre(pdf, "doc.pdf");
    expect(results.static).toEqual({});
    expect(results.yara.matches.map((m: { rule: string }) => m.rule)).toEqual(["PDF_JavaScript_OpenAction"]);
    expect(ctx.signatures.list().find((x) => x.name === "yara_PDF_JavaScript_OpenAction")?.score).toBe(6);
  });

  test("EICAR scores 10 with its family; user rule files add signatures; bad rules fail at initOnce", async () => {
    const eicar = join(dir, "eicar.com");
    writeFileSync(eicar, "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    const { ctx } = await pre(eicar, "eicar.com");
    expect(ctx.signatures.list().find((x) => x.name === "yara_EICAR_Test_File")).toMatchObject({ score: 10, family: "EICAR-Test-File" });

    expect(s.elf).toBeDefined();
    const rules = join(dir, "rules");
    mkdirSync(rules, { recursive: true });
    writeFileSync(join(rules, "mine.yar"), `import "elf"
rule Falc_Gate : c2 { meta: description = "falc test gate URL" score = 9 strings: $u = "gate.php" condition: elf.type == elf.ET_DYN and $u }`);
    writeFileSync(join(rules, "broken.yar"), "rule broken {\n  condition:\n    $nope\n}\n");
    writeFileSync(join(rules, "ignored.txt"), "not a rule");
    const { ctx: c2 } = await pre(s.elf!, "hello", { yara: { rules_dirs: [rules], builtin: false } });
    // The broken file is left out and said so on every run; the good one still matches (with a module).
    expect(c2.results.yara).toMatchObject({ rule_files: [join(rules, "mine.yar")], matches: [{ rule: "Falc_Gate", tags: ["c2"] }] });
    expect((c2.results.yara as { disabled_rule_files: unknown }).disabled_rule_files).toEqual([{ file: join(rules, "broken.yar"), errors: [`${join(rules, "broken.yar")}:4: undefined string "$nope"`] }]);
    expect(c2.errorList).toContain(`yara: rule file ${join(rules, "broken.yar")} left out: ${join(rules, "broken.yar")}:4: undefined string "$nope"`);
    expect(c2.signatures.list().find((x) => x.name === "yara_Falc_Gate")?.score).toBe(9);

    // A file named in `rules` must compile: setup fails naming file:line.
    const y = await one(yaraFactory);
    expect(() => y.initOnce!({ rules: [join(rules, "broken.yar")] })).toThrow(`${join(rules, "broken.yar")}:4: undefined string "$nope"`);
  });

  test("strings config: min_length and sample size", async () => {
    expect(s.elf).toBeDefined();
    const { results } = await pre(s.elf!, "hello", { strings: { min_length: 12, sample_size: 3 } });
    expect(results.strings.min_length).toBe(12);
    expect(results.strings.sample).toHaveLength(3);
    expect(results.strings.sample.every((x: string) => x.length >= 12)).toBe(true);
  });
});
