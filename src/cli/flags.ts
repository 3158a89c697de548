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
  /** Left out of the help (test knobs). */
  hidden?: boolean;
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
    if (f.hidden) o.hideHelp();
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

/** Flags naming the configuration file and this process's entry in it. */
export const CONFIG_FLAGS: Flag[] = [
  { flags: "--config <file>", description: "cluster configuration file (YAML)" },
  { flags: "--node <name>", description: "this process's entry under nodes in the configuration file" },
];

/** Where the blocks are. */
export const STORE_FLAGS: Flag[] = [
  { flags: "--store <dir|url>", description: "object store: a directory, or s3://bucket[/keyPrefix]" },
  { flags: "--s3-endpoint <url>", description: "endpoint of an S3 API other than AWS (MinIO, Ceph …)" },
  { flags: "--s3-region <region>", description: "S3 region", defaultText: "us-east-1" },
  {
    flags: "--s3-force-path-style <bool>",
    description: "path-style S3 addressing",
    parse: bool,
    defaultText: "true with --s3-endpoint",
  },
];

/** Where the blocks are and how processes hear about new ones (writer and reader alike). */
export const STORE_BUS_FLAGS: Flag[] = [
  ...STORE_FLAGS,
  {
    flags: "--bus <kind>",
    description: "block notices: fs | nats | none (readers poll the store only)",
    parse: oneOf("fs", "nats", "none"),
    defaultText: "nats with --nats-url, else fs with a directory store, else none",
  },
  { flags: "--nats-url <urls>", description: "NATS server URL(s), comma-separated" },
  { flags: "--nats-stream <name>", description: "JetStream stream of the notices", defaultText: "chainkeep" },
  { flags: "--bus-dir <dir>", description: "file-system bus directory", defaultText: "<store>/.bus" },
];
