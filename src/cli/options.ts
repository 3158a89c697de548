/**
 * A role's options as commander flags, with one precedence for all: flag, then `CHAINKEEP_*`
 * environment variable, then the configuration file, then the default. Commander reads the flag
 * and the variable (and says which one gave the value); `resolveOptions` adds the file and the
 * default. Flags, variables, help lines and value checks all come from the options' declarations.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  envName,
  flagName,
  type GivenLayer,
  type Options,
  parseOptionText,
  type Resolved,
  resolveOptions,
} from "../util/options.ts";

/** Adds `decl`'s options to `cmd` as flags, each also read from its `CHAINKEEP_*` variable. */
export function addOptions(cmd: Command, decl: Options): Command {
  for (const [key, spec] of Object.entries(decl)) {
    const def = spec.defaultText ?? (spec.default === undefined ? undefined : String(spec.default));
    // Shown in help only: the default is applied after the configuration file.
    const description = def === undefined ? spec.description : `${spec.description} (default: ${def})`;
    const o = new Option(`${flagName(key)} ${spec.arg}`, description).env(envName(key));
    o.argParser((text: string) => {
      const r = parseOptionText(spec, text);
      if (!r.ok) throw new InvalidArgumentError(r.error);
      return r.value;
    });
    if (spec.hidden) o.hideHelp();
    cmd.addOption(o);
  }
  return cmd;
}

/** The flag and environment layer of `cmd`: each setting given there, and by which of the two. */
export function givenBy(cmd: Command): GivenLayer {
  const opts = cmd.opts();
  return (key) => {
    const source = cmd.getOptionValueSource(key);
    if (source === "cli") return { value: opts[key], source: "cli" };
    if (source === "env") return { value: opts[key], source: "env" };
    return undefined;
  };
}

/** True when `key` was given as a flag or an environment variable. */
export function givenOutsideFile(cmd: Command, key: string): boolean {
  return givenBy(cmd)(key) !== undefined;
}

/** `decl`'s settings for `cmd`: flag > env > `file` > default, each on its own. */
export function resolveRole<O extends Options>(
  cmd: Command,
  decl: O,
  file: Record<string, unknown>,
): Resolved<O> {
  return resolveOptions(decl, givenBy(cmd), file);
}
