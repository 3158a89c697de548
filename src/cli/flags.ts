/**
 * CLI flags with one precedence for all: flag, then `CHAINKEEP_*` environment variable, then the
 * configuration file, then the default. Commander reads the flag and the environment (and says
 * which one gave the value); `resolveSettings` adds the file and the default.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { envName, type Resolved, resolveSettings } from "../config/index.ts";

/** A flag of a subcommand. */
export interface Flag {
  /** Commander flags, e.g. `--rpc-port <port>`. */
  flags: string;
  description: string;
  /** Parses the flag's or the environment variable's text. */
  parse?: (v: string) => unknown;
  /** Used when neither flag, environment nor file gives a value. */
  default?: unknown;
  /** The default in help text, when it is not `default` printed as is. */
  defaultText?: string;
}

export function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${v} is not a non-negative integer`);
  return n;
}

export function bool(v: string): boolean {
  if (/^(true|1|yes|on)$/i.test(v)) return true;
  if (/^(false|0|no|off)$/i.test(v)) return false;
  throw new InvalidArgumentError(`${v} is not true or false`);
}

export function oneOf(...values: string[]): (v: string) => string {
  return (v) => {
    if (!values.includes(v)) throw new InvalidArgumentError(`expected one of ${values.join(", ")}`);
    return v;
  };
}

/** The option's setting name (`--rpc-port` → `rpcPort`). */
export function flagKey(f: Flag): string {
  return new Option(f.flags).attributeName();
}

/** Adds `flags` to `cmd`, each also read from its `CHAINKEEP_*` environment variable. */
export function addFlags(cmd: Command, flags: readonly Flag[]): Command {
  for (const f of flags) {
    const o = new Option(f.flags, f.description);
    if (f.parse) o.argParser(f.parse as (v: string, prev: unknown) => unknown);
    o.env(envName(o.attributeName()));
    if (f.default !== undefined || f.defaultText !== undefined) {
      // Shown in help only: the default is applied after the configuration file.
      o.description = `${f.description} (default: ${f.defaultText ?? String(f.default)})`;
    }
    cmd.addOption(o);
  }
  return cmd;
}

/** The settings of `flags` for `cmd` after flag > env > `file` > default. */
export function resolveFlags(cmd: Command, flags: readonly Flag[], file: Record<string, unknown>): Resolved {
  const defaults: Record<string, unknown> = {};
  for (const f of flags) if (f.default !== undefined) defaults[flagKey(f)] = f.default;
  const opts = cmd.opts();
  return resolveSettings(
    flags.map(flagKey),
    { value: (k) => opts[k], source: (k) => cmd.getOptionValueSource(k) },
    file,
    defaults,
  );
}

/** True when `key` was given as a flag or an environment variable. */
export function givenOutsideFile(cmd: Command, key: string): boolean {
  const src = cmd.getOptionValueSource(key);
  return src === "cli" || src === "env";
}
