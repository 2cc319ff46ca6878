import { Command, Option } from "clipanion";
import { errorLine, EXIT, FalcError } from "../core/errors.ts";
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import type { OpenQueueOptions } from "../queue/open.ts";
import type { Queue } from "../queue/types.ts";

/**
 * Config (yaml, zod) and logging (pino) are loaded when a command runs, not when the CLI starts:
 * `--help`, `--version` and usage errors never pay for them.
 */
interface Core {
  config: typeof import("../core/config.ts");
  logger: typeof import("../core/logger.ts");
}
let core: Core | null = null;

async function loadCore(): Promise<void> {
  if (core) return;
  const [config, logger] = await Promise.all([import("../core/config.ts"), import("../core/logger.ts")]);
  core = { config, logger };
}

function loaded(): Core {
  if (!core) throw new Error("command internals used before execute()");
  return core;
}

/**
 * Every falc command: shared options, config loading, and the one place where an error
 * becomes one line on stderr and an exit code (0 ok, 1 work failed, 2 usage).
 */
export abstract class FalcCommand extends Command {
  configPath = Option.String("--config", { description: "Config file (default: $FALC_CONFIG or ./falc.yaml)" });
  queueSpec = Option.String("--queue", { description: "Queue: sqlite (default), sqlite:/path, redis://host:port/db" });
  json = Option.Boolean("--json", false, { description: "Print one JSON document for scripts" });
  logLevel = Option.String("--log-level", { description: "trace|debug|info|warn|error|silent" });

  private _config?: Config;
  private _log?: Logger;
  private _queue?: Queue;

  get config(): Config {
    this._config ??= loaded().config.loadConfig({ configPath: this.configPath, queue: this.queueSpec, logLevel: this.logLevel });
    return this._config;
  }

  get log(): Logger {
    this._log ??= loaded().logger.createLogger({ level: this.config.log_level });
    return this._log;
  }

  /** The configured queue; long-running commands pass `{ persistent: true, log }` to wait out Redis outages. */
  async queue(extra: Partial<OpenQueueOptions> = {}): Promise<Queue> {
    const { openQueue } = await import("../queue/open.ts");
    this._queue ??= await openQueue(this.config.queue, {
      home: this.config.home,
      defaultMaxAttempts: this.config.max_attempts,
      ...extra,
    });
    return this._queue;
  }

  /** Write a result: JSON when asked or off a TTY-less pipe by the caller's choice, text otherwise. */
  out(text: string): void {
    this.write(text.endsWith("\n") ? text : text + "\n");
  }

  outJson(value: unknown): void {
    this.write(JSON.stringify(value, null, 2) + "\n");
  }

  /** A reader that has gone (`falc … | head -1`) ends the command quietly, as with other tools. */
  private write(text: string): void {
    const out = this.context.stdout as NodeJS.WritableStream & { __falcEpipe?: boolean };
    if (!out.__falcEpipe && typeof out.on === "function") {
      out.__falcEpipe = true;
      // The failed write is reported later, as an error event on the stream.
      out.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EPIPE") process.exit(EXIT.ok);
        throw e;
      });
    }
    try {
      this.context.stdout.write(text);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EPIPE") process.exit(EXIT.ok);
      throw e;
    }
  }

  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      await loadCore();
      const code = await this.run();
      return code ?? EXIT.ok;
    } catch (e) {
      const line = errorLine(e);
      this.context.stderr.write(`falc: ${line}\n`);
      if (process.env.FALC_DEBUG && e instanceof Error && e.stack) this.context.stderr.write(e.stack + "\n");
      return e instanceof FalcError ? e.exitCode : EXIT.failed;
    } finally {
      if (this._queue) await this._queue.close().catch(() => {});
    }
  }
}
