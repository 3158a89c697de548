import { errorClass } from "../util/errors.ts";

/** Codes of the cluster file: unreadable, not YAML (its other problems are `CONFIG_INVALID`). */
export type ConfigErrorCode = "CONFIG_UNREADABLE" | "CONFIG_SYNTAX";

/** An error with a {@link ConfigErrorCode}. */
export const ConfigError = errorClass<ConfigErrorCode>("ConfigError");
export type ConfigError = InstanceType<typeof ConfigError>;
