import type { Logger } from "../core/logger.ts";
import type { SessionLimits } from "./session.ts";

/** What a master and a worker node both need: where to listen or connect, their tree, and who they are. */
export interface NodeOptions {
  /** The master's listen address, or the master a worker connects to. */
  host: string;
  port: number;
  /** The synced tree. */
  dir: string;
  /** The cluster key both sides prove in the hello. */
  key: Buffer;
  name: string;
  cluster: string;
  home: string;
  log: Logger;
  limits: SessionLimits;
}
