/**
 * The behaviour event schema: what a monitor writes to task_<n>/events/*.json, one JSON object per line.
 * This is the only definition; the post stage validates every line against it.
 *
 *   {"ts": 1.5, "type": "process", "action": "create", "pid": 200, "ppid": 100, "image": "C:\\x.exe", "cmdline": "x.exe -a"}
 *   {"ts": 2.0, "type": "file", "action": "write", "pid": 200, "path": "C:\\Users\\a\\evil.exe"}
 *   {"ts": 2.1, "type": "registry", "action": "set", "pid": 200, "key": "HKCU\\...\\Run", "value": "evil", "data": "C:\\evil.exe"}
 *   {"ts": 3.0, "type": "network", "action": "connect", "pid": 200, "dst": "203.0.113.5", "port": 443, "proto": "tcp"}
 *   {"ts": 3.1, "type": "network", "action": "dns", "pid": 200, "domain": "evil.example"}
 *   {"ts": 4.0, "type": "mutex", "action": "create", "pid": 200, "name": "Global\\x"}
 *
 * ts is seconds (since the task started or since the epoch, as long as one file is consistent).
 */
import { z } from "zod";

const pid = z.number().int().nonnegative();
const text = (max: number) => z.string().max(max);
const common = {
  ts: z.number().nonnegative(),
  pid,
  /** The image of the process doing it, when the monitor knows it. */
  image: text(4096).optional(),
};

export const processEventSchema = z.object({
  ...common,
  type: z.literal("process"),
  action: z.enum(["create", "terminate", "inject"]),
  ppid: pid.optional(),
  cmdline: text(32768).optional(),
  /** inject: the process written into. */
  target_pid: pid.optional(),
});

export const fileEventSchema = z.object({
  ...common,
  type: z.literal("file"),
  action: z.enum(["create", "write", "read", "delete", "rename"]),
  path: text(4096).min(1),
  /** rename: the new path. */
  dest_path: text(4096).optional(),
});

export const registryEventSchema = z.object({
  ...common,
  type: z.literal("registry"),
  action: z.enum(["set", "create", "read", "delete"]),
  key: text(4096).min(1),
  /** The value name under the key. */
  value: text(4096).optional(),
  data: z.union([text(32768), z.number()]).optional(),
});

export const networkEventSchema = z.object({
  ...common,
  type: z.literal("network"),
  action: z.enum(["connect", "listen", "send", "dns"]),
  dst: text(1024).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  proto: z.enum(["tcp", "udp", "icmp", "raw"]).optional(),
  /** dns: the name looked up. */
  domain: text(1024).optional(),
});

export const mutexEventSchema = z.object({
  ...common,
  type: z.literal("mutex"),
  action: z.enum(["create", "open"]),
  name: text(1024).min(1),
});

export const eventSchema = z.discriminatedUnion("type", [processEventSchema, fileEventSchema, registryEventSchema, networkEventSchema, mutexEventSchema]);

export type BehaviourEvent = z.infer<typeof eventSchema>;
export type ProcessEvent = z.infer<typeof processEventSchema>;
