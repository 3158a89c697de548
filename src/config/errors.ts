import { ChainkeepError } from "../util/errors.ts";

/** Codes of the cluster file: unreadable, not YAML (its other problems are `CONFIG_INVALID`). */
export type ConfigErrorCode = "CONFIG_UNREADABLE" | "CONFIG_SYNTAX";

/** An error with a {@link ConfigErrorCode}. */
export class ConfigError extends ChainkeepError {
  declare readonly code: ConfigErrorCode;

  constructor(
    code: ConfigErrorCode,
    message: string,
    meta: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, meta, options);
  }
}
