import { pino } from "pino";
import { option } from "./options.ts";

/** pino's levels. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** Options of the root logger. */
export const loggerOptions = {
  logLevel: option.choice(LOG_LEVELS, { description: "pino log level", arg: "<level>", default: "info" }),
};

/** The logger every component receives in its deps; children carry `{ module }`. */
export type Logger = pino.Logger;

/** Options of the root logger. */
export interface LoggerOptions {
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  level?: string;
  /** Base fields added to every line (e.g. `{ role: "reader" }`). */
  base?: Record<string, unknown>;
}

/** Creates the root logger: JSON lines on stderr, so stdout stays free for user-facing output. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    { level: opts.level ?? process.env.CHAINKEEP_LOG_LEVEL ?? "info", base: opts.base ?? {} },
    pino.destination(2),
  );
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
