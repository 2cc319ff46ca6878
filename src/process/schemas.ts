import { z } from "zod";
import { inputError } from "../core/errors.ts";
import { ANALYSIS_STATES, TASK_STATES } from "./states.ts";

/**
 * The files of an analysis directory (see layout.ts) and the plugin output the core relies on,
 * validated where they come in. Objects are loose: keys Cuckoo3 or a newer falc added are kept.
 */
const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`), `expected ${n} lowercase hex digits`);

export const stageErrorsSchema = z.object({
  errors: z.array(z.string()).default([]),
  fatal: z.array(z.object({ error: z.string(), traceback: z.string().default("") })).default([]),
});
export type StageErrorsDoc = z.infer<typeof stageErrorsSchema>;

export const platformSchema = z.looseObject({
  platform: z.string().min(1).max(64),
  os_version: z.string().max(64).default(""),
});
export type PlatformEntry = z.infer<typeof platformSchema>;

export const targetFileSchema = z.looseObject({
  filename: z.string(),
  orig_filename: z.string(),
  size: z.number().int().min(0),
  filetype: z.string(),
  media_type: z.string(),
  extrpath: z.array(z.string()).default([]),
  container: z.boolean(),
  md5: hex(32),
  sha1: hex(40),
  sha256: hex(64),
  sha512: hex(128),
  platforms: z.array(platformSchema).default([]),
});
export type TargetFileDoc = z.infer<typeof targetFileSchema>;

export const targetUrlSchema = z.looseObject({
  url: z.string().min(1),
  platforms: z.array(platformSchema).default([]),
});
export type TargetUrlDoc = z.infer<typeof targetUrlSchema>;

/** What the processor with KEY `identify` returns (and identification.json's top level). */
export const identifyResultSchema = z.looseObject({
  identified: z.boolean(),
  selected: z.boolean(),
  category: z.enum(["file", "url"]),
  target: z.union([targetFileSchema, targetUrlSchema]),
  ignored: z.array(z.looseObject({ filename: z.string(), filetype: z.string().optional(), reason: z.string() })).default([]),
});
export type IdentifyResult = z.infer<typeof identifyResultSchema>;

export const SCORE_LEVELS = [1, 6, 8, 9, 10] as const;

export const signatureSchema = z.object({
  name: z.string().min(1).max(200),
  short_description: z.string().max(1000),
  description: z.string().max(10_000).optional(),
  score: z.literal(SCORE_LEVELS),
  family: z.string().max(200).optional(),
  tags: z.array(z.string().max(200)).optional(),
  ttps: z.array(z.string().max(200)).optional(),
  iocs: z.array(z.unknown()).optional(),
});

export const settingsSchema = z.looseObject({
  timeout: z.number().int().min(1).default(120),
  enforce_timeout: z.boolean().default(false),
  dump_memory: z.boolean().default(false),
  priority: z.number().int().min(1).default(1),
  options: z.record(z.string(), z.unknown()).default({}),
  platforms: z.array(platformSchema).default([]),
  extrpath: z.array(z.string()).default([]),
  manual: z.boolean().default(false),
  command: z.array(z.string()).default([]),
  browser: z.string().default(""),
  password: z.string().default(""),
  orig_filename: z.boolean().default(false),
});
export type Settings = z.infer<typeof settingsSchema>;

export const submittedFileSchema = z.looseObject({
  category: z.literal("file"),
  filename: z.string(),
  size: z.number().int().min(0),
  // Empty until identification has hashed the file.
  md5: z.union([hex(32), z.literal("")]),
  sha1: z.union([hex(40), z.literal("")]),
  sha256: hex(64),
  media_type: z.string(),
  type: z.string(),
});
export const submittedUrlSchema = z.looseObject({ category: z.literal("url"), url: z.string().min(1) });

export const analysisTaskEntrySchema = z.looseObject({
  id: z.string(),
  platform: z.string(),
  os_version: z.string().default(""),
  state: z.enum(TASK_STATES),
  score: z.number().int().min(0).max(10).default(0),
});

export const analysisSchema = z.looseObject({
  id: z.string(),
  kind: z.string().default("standard"),
  state: z.enum(ANALYSIS_STATES),
  score: z.number().int().min(0).max(10).default(0),
  settings: settingsSchema,
  created_on: z.string(),
  category: z.enum(["file", "url"]),
  submitted: z.union([submittedFileSchema, submittedUrlSchema]),
  target: z.record(z.string(), z.unknown()).default({}),
  errors: stageErrorsSchema.default({ errors: [], fatal: [] }),
  tasks: z.array(analysisTaskEntrySchema).default([]),
  families: z.array(z.string()).default([]),
  tags: z.array(z.string()).default([]),
  ttps: z.array(z.unknown()).default([]),
});
export type AnalysisDoc = z.infer<typeof analysisSchema>;

export const taskSchema = z.looseObject({
  id: z.string(),
  analysis_id: z.string(),
  kind: z.string().default("standard"),
  state: z.enum(TASK_STATES),
  number: z.number().int().min(1),
  score: z.number().int().min(0).max(10).default(0),
  platform: z.string(),
  os_version: z.string().default(""),
  machine_tags: z.array(z.string()).default([]),
  machine: z.string().default(""),
  errors: stageErrorsSchema.default({ errors: [], fatal: [] }),
});
export type TaskDoc = z.infer<typeof taskSchema>;

/** Parse with a schema, or say which file and key is wrong. */
export function parseDoc<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw inputError(`${what}: key \`${i.path.join(".") || "(top level)"}\`: ${i.message}`);
}
