/**
 * Options declared once (Lodestar's `defaultXOptions`, as zod). A component declares each of its
 * options with the schema of its value, its default (or the default in words), and a one-line
 * description with its unit. From that one declaration come its CLI flag (`--rpc-port`), its
 * environment variable (`CHAINKEEP_RPC_PORT`), its key in the cluster file (`rpcPort`), its line
 * in `--help`, the file's error message for it, and the typed settings the component receives
 * (`OptionValues`, defaults applied by `withDefaults`): renaming an option is a change in one
 * place.
 */
import { z } from "zod";

/** One option of a component. */
export interface OptionSpec<T = unknown, HasDefault extends boolean = boolean> {
  /** One line for `--help`, with the unit ("in ms"). */
  readonly description: string;
  /** The value's schema; its messages are the configuration file's errors for the key. */
  readonly schema: z.ZodType<T>;
  /** The flag's value placeholder (`<ms>`; `[bool]` for a switch whose value may be left out). */
  readonly arg: string;
  /** A flag's or environment variable's text as the value `schema` checks (numbers, lists, …). */
  readonly fromText: (text: string) => unknown;
  /** Used when no flag, variable or file gives a value. */
  readonly default: HasDefault extends true ? T : undefined;
  /** The default in words, where there is none or it is not a constant ("min(2, cores)"). */
  readonly defaultText?: string;
  /** Left out of `--help` (test knobs). */
  readonly hidden?: boolean;
}

/** A component's options: setting name (camelCase) → declaration. */
export type Options = Record<string, OptionSpec>;

/** The settings a component receives: each option's value; those without a default may be absent. */
export type OptionValues<O extends Options> = {
  [K in keyof O]: O[K] extends OptionSpec<infer T, infer D> ? (D extends true ? T : T | undefined) : never;
};

/** Options a caller may leave out (constructors and tests; defaults fill them in). */
export type PartialOptions<O extends Options> = { [K in keyof O]?: OptionValues<O>[K] };

/** What every builder takes. */
interface Described<T> {
  description: string;
  default?: T;
  defaultText?: string;
  hidden?: boolean;
  /** The flag's value placeholder (default by kind: `<n>`, `<bool>`, …). */
  arg?: string;
}

type Built<T, O extends Described<T>> = OptionSpec<T, O extends { default: T } ? true : false>;

/** A zod error option: "required" when the key is missing, else `text`. */
export function message(text: string): { error: (iss: { input?: unknown }) => string } {
  return { error: (iss) => (iss.input === undefined ? "required" : text) };
}

function build<T, O extends Described<T>>(
  schema: z.ZodType<T>,
  arg: string,
  fromText: (text: string) => unknown,
  o: O,
): Built<T, O> {
  return {
    description: o.description,
    schema,
    arg: o.arg ?? arg,
    fromText,
    default: o.default,
    ...(o.defaultText !== undefined ? { defaultText: o.defaultText } : {}),
    ...(o.hidden ? { hidden: true } : {}),
  } as Built<T, O>;
}

const POSITIVE_INT = "expected a positive integer";
const NON_NEGATIVE_INT = "expected a non-negative integer";
const PORT = "expected a port number (0-65535)";

/** Text as a number (or as itself when it is not one, so that the schema names the problem). */
function numberFromText(text: string): unknown {
  return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
}

/** Text as true or false (or as itself, refused by the schema). */
function boolFromText(text: string): unknown {
  if (/^(true|1|yes|on)$/i.test(text)) return true;
  if (/^(false|0|no|off)$/i.test(text)) return false;
  return text;
}

/** Comma-separated text as a list. */
function listFromText(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Zod schemas shared by option declarations and the cluster file. */
export const schemas = {
  positiveInt: z.number(message(POSITIVE_INT)).int(message(POSITIVE_INT)).positive(message(POSITIVE_INT)),
  nonNegativeInt: z
    .number(message(NON_NEGATIVE_INT))
    .int(message(NON_NEGATIVE_INT))
    .nonnegative(message(NON_NEGATIVE_INT)),
  port: z.number(message(PORT)).int(message(PORT)).min(0, message(PORT)).max(65535, message(PORT)),
  text: z.string(message("expected a string")).min(1, message("must not be empty")),
  name: z
    .string(message("expected a name"))
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, message("expected a name of letters, digits, '-', '_', '.'")),
  /** A JSON-RPC URL: http(s) or ws(s). */
  rpcUrl: z
    .string(message("expected a URL"))
    .regex(/^(https?|wss?):\/\/\S+$/, message("expected an http(s):// or ws(s):// URL")),
  httpUrl: z
    .string(message("expected a URL"))
    .regex(/^https?:\/\/\S+$/, message("expected an http(s):// URL")),
  natsUrl: z
    .string(message("expected a URL"))
    .regex(/^(nats|tls|wss?):\/\/\S+$|^[^\s/:]+:\d+$/, message("expected a nats:// URL or host:port")),
  /** One item or a non-empty list of them, as a list. */
  oneOrMore<T extends z.ZodType>(item: T): z.ZodType<z.output<T>[]> {
    return z
      .union(
        [item, z.array(item).min(1, message("expected at least one"))],
        message("expected one URL or a list of URLs"),
      )
      .transform((v) => (Array.isArray(v) ? (v as z.output<T>[]) : [v as z.output<T>]));
  },
};

/** Builders of option declarations, one per kind of value. */
export const option = {
  /** A whole number, at least `min` (default 0). */
  int<O extends Described<number> & { min?: 0 | 1 }>(o: O): Built<number, O> {
    return build(o.min === 1 ? schemas.positiveInt : schemas.nonNegativeInt, "<n>", numberFromText, o);
  },
  /** A TCP port (0: any free one). */
  port<O extends Described<number>>(o: O): Built<number, O> {
    return build(schemas.port, "<port>", numberFromText, o);
  },
  /** true or false; as a flag, the value may be left out (`--admin` means `--admin true`). */
  bool<O extends Described<boolean>>(o: O): Built<boolean, O> {
    return build(z.boolean(message("expected true or false")), "[bool]", boolFromText, o);
  },
  /** One of `values`. */
  choice<const V extends readonly [string, ...string[]], O extends Described<V[number]>>(
    values: V,
    o: O,
  ): Built<V[number], O> {
    return build(
      z.enum(values, message(`expected one of ${values.join(", ")}`)) as unknown as z.ZodType<V[number]>,
      "<mode>",
      (t) => t,
      o,
    );
  },
  /** A non-empty string (or one matching `schema`). */
  text<O extends Described<string> & { schema?: z.ZodType<string> }>(o: O): Built<string, O> {
    return build(o.schema ?? schemas.text, "<text>", (t) => t, o);
  },
  /** A list: comma-separated as text, one item or a list in the file. */
  list<O extends Described<string[]> & { item: z.ZodType<string> }>(o: O): Built<string[], O> {
    return build(schemas.oneOrMore(o.item), "<list>", listFromText, o);
  },
};

/** The CLI flag of a setting: `rpcPort` → `--rpc-port`. */
export function flagName(key: string): string {
  return `--${key.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase()}`;
}

/** The environment variable of a setting: `rpcPort` → `CHAINKEEP_RPC_PORT`. */
export function envName(key: string): string {
  return `CHAINKEEP_${key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`;
}

/** A flag's or variable's text as the option's value; the schema's message when it is not one. */
export function parseOptionText<T>(
  spec: OptionSpec<T>,
  text: string,
): { ok: true; value: T } | { ok: false; error: string } {
  const r = spec.schema.safeParse(spec.fromText(text));
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: r.error.issues[0]?.message ?? "not valid" };
}

/** `given` with every absent option set to its default. */
export function withDefaults<O extends Options>(decl: O, given: PartialOptions<O>): OptionValues<O> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(decl)) {
    const v = (given as Record<string, unknown>)[key];
    out[key] = v !== undefined ? v : spec.default;
  }
  return out as OptionValues<O>;
}

/** The options `keys` of `decl`. */
export function pick<O extends Options, K extends keyof O>(decl: O, keys: readonly K[]): Pick<O, K> {
  const out: Partial<O> = {};
  for (const k of keys) out[k] = decl[k];
  return out as Pick<O, K>;
}

/** The options of `decl` but `keys`. */
export function omit<O extends Options, K extends keyof O>(decl: O, keys: readonly K[]): Omit<O, K> {
  const out: Record<string, OptionSpec> = { ...decl };
  for (const k of keys) delete out[k as string];
  return out as Omit<O, K>;
}

/** The zod shape of `decl` in a file: every key optional (defaults apply after the layers). */
export function fileShape<O extends Options>(decl: O): { [K in keyof O]: z.ZodOptional<O[K]["schema"]> } {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, spec] of Object.entries(decl)) shape[key] = spec.schema.optional();
  return shape as { [K in keyof O]: z.ZodOptional<O[K]["schema"]> };
}

/** Where a resolved setting came from. */
export type SettingSource = "cli" | "env" | "file" | "default";

/** Settings of `decl` after flag > env > file > default, and where each came from. */
export interface Resolved<O extends Options> {
  values: OptionValues<O>;
  sources: Partial<Record<keyof O, SettingSource>>;
}

/** The flag and environment layer: each setting given there, and which of the two gave it. */
export type GivenLayer = (key: string) => { value: unknown; source: "cli" | "env" } | undefined;

/**
 * Applies flag > env > file > default to each option of `decl` on its own. `file` holds settings
 * the cluster file gives (already checked against the options' schemas when it was loaded).
 */
export function resolveOptions<O extends Options>(
  decl: O,
  given: GivenLayer,
  file: Record<string, unknown>,
): Resolved<O> {
  const values: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const [key, spec] of Object.entries(decl)) {
    const g = given(key);
    if (g !== undefined && g.value !== undefined) {
      values[key] = g.value;
      sources[key] = g.source;
    } else if (file[key] !== undefined) {
      values[key] = file[key];
      sources[key] = "file";
    } else if (spec.default !== undefined) {
      values[key] = spec.default;
      sources[key] = "default";
    }
  }
  return { values: values as OptionValues<O>, sources: sources as Partial<Record<keyof O, SettingSource>> };
}
