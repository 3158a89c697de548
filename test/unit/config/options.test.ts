/**
 * Every option of every role, set by flag, by `CHAINKEEP_*` variable and by the cluster file, goes
 * through the CLI's real parsing (commander with the flags generated from the declarations, the
 * file flattened for the role's node) and comes out with the documented precedence: flag, then
 * environment, then file, then the declared default.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Command } from "commander";
import { addOptions, resolveRole } from "../../../src/cli/options.ts";
import {
  archiverRole,
  demoRole,
  exportRole,
  fileOptions,
  globalOptions,
  packRole,
  parseConfig,
  READER_CHAIN_KEYS,
  readerFileSettings,
  readerRole,
  recoverRole,
  resumeRole,
  STORE_AND_BUS_KEYS,
  snapshotCreateRole,
  snapshotListRole,
  snapshotRetireRole,
  snapshotVerifyRole,
  WRITER_CHAIN_KEYS,
  writerFileSettings,
  writerRole,
} from "../../../src/config/index.ts";
import type { ChainkeepError } from "../../../src/util/errors.ts";
import {
  envName,
  flagName,
  type OptionSpec,
  type Options,
  parseOptionText,
  type Resolved,
} from "../../../src/util/options.ts";

/** Texts tried as values; each option takes the first three its declaration accepts. */
const CANDIDATES = [
  "7",
  "8",
  "9",
  "true",
  "false",
  "http://127.0.0.1:7",
  "http://127.0.0.1:8",
  "ws://127.0.0.1:9",
  "nats://127.0.0.1:7",
  "nats://127.0.0.1:8",
  "nats://127.0.0.1:9",
  "alpha",
  "beta",
  "gamma",
  ...["full", "archive", "always", "sample", "off", "auto", "replay", "prestate", "none"],
  ...["fs", "nats", "tty", "log", "trace", "debug", "warn", "ere"],
];

/** Three texts (two for a switch) that parse to distinct values, with those values. */
function samples(key: string, spec: OptionSpec): { text: string; value: unknown }[] {
  const out: { text: string; value: unknown }[] = [];
  // Hosts, names and directories: plain words; lists and URLs: URLs of their kind.
  const pool = key === "natsUrl" ? CANDIDATES.filter((c) => c.startsWith("nats:")) : CANDIDATES;
  for (const text of pool) {
    const r = parseOptionText(spec, text);
    if (r.ok && !out.some((o) => JSON.stringify(o.value) === JSON.stringify(r.value)))
      out.push({ text, value: r.value });
    if (out.length === 3) break;
  }
  // An option with one accepted value (export's --format ere) is tried with that value both ways.
  if (out.length === 1 && spec.default !== undefined)
    return [out[0], out[0]] as { text: string; value: unknown }[];
  assert.ok(out.length >= 2, `${key}: no two sample values parse`);
  return out;
}

/** Parses `argv` with `env` through the role's generated flags, then resolves with `file`. */
function resolveWith<O extends Options>(
  decl: O,
  argv: string[],
  env: Record<string, string>,
  file: Record<string, unknown>,
): Resolved<O> {
  const cmd = addOptions(new Command("role").exitOverride().configureOutput({ writeErr: () => {} }), {
    ...fileOptions,
    ...decl,
  });
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (k.startsWith("CHAINKEEP_")) delete process.env[k];
  Object.assign(process.env, env);
  try {
    cmd.parse(argv, { from: "user" });
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  return resolveRole(cmd, decl, file);
}

const BASE_CHAIN = { chainId: 4242, name: "c", upstream: "ws://127.0.0.1:1" };

/**
 * Where the cluster file holds a writer's option (and a line command's, which reads the writer's
 * entry): the chain's entry, the store or bus section, else the writer's node entry.
 */
function writerFile(key: string, value: unknown): Record<string, unknown> {
  const chain: Record<string, unknown> = { ...BASE_CHAIN };
  const node: Record<string, unknown> = { name: "w", role: "writer", chain: "c" };
  const cfg: Record<string, unknown> = { chains: [chain], nodes: [node] };
  if ((WRITER_CHAIN_KEYS as readonly string[]).includes(key)) chain[key] = value;
  else if ((STORE_AND_BUS_KEYS as readonly string[]).includes(key)) Object.assign(cfg, section(key, value));
  else node[key] = value;
  return writerFileSettings(parseConfig(cfg), { node: "w" }).values;
}

/** The file's top-level settings (the log level), as every command reads them. */
function globalFile(key: string, value: unknown): Record<string, unknown> {
  return writerFileSettings(parseConfig({ [key]: value, chains: [BASE_CHAIN] }), {}).values;
}

/** Where the file holds a reader's option: the node's chain entry, a section, or the node entry. */
function readerFile(
  key: string,
  value: unknown,
  role: "reader" | "archiver" = "reader",
): Record<string, unknown> {
  const chain: Record<string, unknown> = { ...BASE_CHAIN };
  const served: Record<string, unknown> = { chain: "c", rpcPort: 1, dataDir: "/d" };
  const node: Record<string, unknown> = { name: "r", role, chains: [served] };
  const cfg: Record<string, unknown> = { chains: [chain], nodes: [node] };
  if (key === "chainId") chain.chainId = value;
  else if ((READER_CHAIN_KEYS as readonly string[]).includes(key)) served[key] = value;
  else if ((STORE_AND_BUS_KEYS as readonly string[]).includes(key)) Object.assign(cfg, section(key, value));
  else node[key] = value;
  return readerFileSettings(parseConfig(cfg), { node: "r", role }).values;
}

/** The store or bus section that gives `key` the value `value`. */
function section(key: string, value: unknown): Record<string, unknown> {
  const s3 = { type: "s3", bucket: "b" };
  const nats = { type: "nats", servers: ["nats://127.0.0.1:1"] };
  switch (key) {
    case "store":
      return { store: { type: "fs", dir: value } };
    case "s3Endpoint":
      return { store: { ...s3, endpoint: value } };
    case "s3Region":
      return { store: { ...s3, region: value } };
    case "s3ForcePathStyle":
      return { store: { ...s3, forcePathStyle: value } };
    case "bus":
      return { bus: value === "nats" ? nats : { type: value } };
    case "natsUrl":
      return { bus: { ...nats, servers: [value] } };
    case "natsStream":
      return { bus: { ...nats, stream: value } };
    case "busDir":
      return { bus: { type: "fs", dir: value } };
    default:
      throw new Error(`no section holds ${key}`);
  }
}

/** Roles, with how the file gives each option (undefined: flags and variables only). */
const ROLES: [string, Options, ((key: string, value: unknown) => Record<string, unknown>) | undefined][] = [
  ["every command", globalOptions, globalFile],
  ["writer", writerRole, writerFile],
  ["reader", readerRole, (k, v) => readerFile(k, v)],
  ["archiver", archiverRole, (k, v) => readerFile(k, v, "archiver")],
  ["recover store", recoverRole, undefined],
  ["export", exportRole, undefined],
  ["pack", packRole, undefined],
  ["snapshot create", snapshotCreateRole, undefined],
  ["snapshot list", snapshotListRole, undefined],
  ["snapshot verify", snapshotVerifyRole, undefined],
  ["snapshot retire", snapshotRetireRole, undefined],
  ["demo", demoRole, undefined],
  ["resume-writer", resumeRole, undefined],
];

/** Options of the line commands that the file gives (from the writer's entry, like the writer's own). */
function lineFile(
  role: Options,
  key: string,
): ((key: string, value: unknown) => Record<string, unknown>) | undefined {
  return key in writerRole && role !== demoRole && role !== resumeRole ? writerFile : undefined;
}

describe("options: every option of every role by flag, environment and file", () => {
  for (const [name, decl, file] of ROLES) {
    test(`${name}: flag > env > file > default, for each option`, () => {
      let fromFile = 0;
      for (const [key, spec] of Object.entries(decl)) {
        const [a, b, c = a] = samples(key, spec) as [
          { text: string; value: unknown },
          { text: string; value: unknown },
        ];
        const flag = [flagName(key), a.text];
        const env = { [envName(key)]: b.text };
        const inFile = file ?? lineFile(decl, key);
        const fileValues = inFile ? inFile(key, c.value) : {};
        const at = (r: Resolved<Options>) => [r.values[key], r.sources[key]];
        assert.deepEqual(at(resolveWith(decl, flag, {}, {})), [a.value, "cli"], `${name} ${key} by flag`);
        assert.deepEqual(at(resolveWith(decl, [], env, {})), [b.value, "env"], `${name} ${key} by variable`);
        assert.deepEqual(
          at(resolveWith(decl, flag, env, fileValues)),
          [a.value, "cli"],
          `${name} ${key}: flag first`,
        );
        assert.deepEqual(
          at(resolveWith(decl, [], env, fileValues)),
          [b.value, "env"],
          `${name} ${key}: env over file`,
        );
        if (inFile) {
          assert.deepEqual(
            at(resolveWith(decl, [], {}, fileValues)),
            [c.value, "file"],
            `${name} ${key} by file`,
          );
          fromFile++;
        }
        const none = resolveWith(decl, [], {}, {});
        assert.deepEqual(
          at(none),
          spec.default === undefined ? [undefined, undefined] : [spec.default, "default"],
          `${name} ${key}: the declared default`,
        );
      }
      // Every option of a role with a node entry is in the file, but the file's own (--config, --node).
      if (file) assert.equal(fromFile, Object.keys(decl).length, `${name}: every option by file`);
    });
  }

  test("a flag, a variable and the file refuse a bad value with the same words", () => {
    assert.throws(
      () => resolveWith(writerRole, ["--reorg-max", "0"], {}, {}),
      (err: Error) => /expected a positive integer/.test(err.message),
    );
    assert.throws(
      () => resolveWith(readerRole, [], { CHAINKEEP_HISTORY: "some" }, {}),
      (err: Error) => /expected one of full, archive/.test(err.message),
    );
    assert.throws(
      () => writerFile("reorgMax", 0),
      (err: ChainkeepError) =>
        err.code === "CONFIG_INVALID" &&
        (err.meta.problems as string[]).includes("chains[0].reorgMax: expected a positive integer"),
    );
  });
});
