/**
 * The `chainkeep` command: one subcommand per role. Each parses its arguments (flags and
 * `CHAINKEEP_*` variables from the role's options, and the cluster file), and calls the role's
 * composition root in `node/`.
 */
import { Command } from "commander";
import {
  archiverRole,
  type ClusterConfig,
  clusterStoreAndBus,
  demoRole,
  exportRole,
  fileOptions,
  globalOptions,
  loadConfig,
  READER_CHAIN_KEYS,
  type ReaderFileSettings,
  readerFileSettings,
  readerRole,
  recoverRole,
  resumeRole,
  storeAndBusSpecs,
  storeSpecOf,
  writerFileSettings,
  writerRole,
} from "../config/index.ts";
import type { ReaderChainOptions } from "../node/index.ts";
import { ChainkeepError, CommonError, errorMessage } from "../util/errors.ts";
import { createLogger } from "../util/logger.ts";
import { envName, flagName, type Options, option } from "../util/options.ts";
import { registerArchiveCommands } from "./archive.ts";
import { addOptions, givenOutsideFile, resolveRole } from "./options.ts";
import { onShutdown } from "./run.ts";

const program = new Command("chainkeep")
  .enablePositionalOptions()
  .description("Keeps EVM chains: mirrors them through object storage and serves Ethereum JSON-RPC");
addOptions(program, globalOptions);

/** The log level: flag, env, the file's `logLevel`, then the default. */
function logLevel(file: Record<string, unknown> = {}): string {
  return resolveRole(program, globalOptions, file).values.logLevel;
}

function loadIfGiven(file: string | undefined): ClusterConfig | undefined {
  return file !== undefined && file !== "" ? loadConfig(file) : undefined;
}

/** A required setting that no layer gave. */
function missing(key: string, where: string): ChainkeepError {
  return new CommonError(
    "CONFIG_MISSING",
    `${flagName(key)} is required: pass it, set ${envName(key)}, or give it in the configuration file (${where})`,
  );
}

const writer = program
  .command("writer")
  .description("follow an upstream node and commit every block to the object store");
addOptions(writer, { ...fileOptions, ...writerRole }).action(async () => {
  const f = resolveRole(writer, fileOptions, {}).values;
  const cfg = loadIfGiven(f.config);
  const file = cfg
    ? writerFileSettings(cfg, {
        node: f.node,
        // A chain id given as a flag or variable picks the chain's entry.
        chainId: resolveRole(writer, { chainId: writerRole.chainId }, {}).values.chainId,
      })
    : { values: {}, extras: {} };
  const s = resolveRole(writer, writerRole, file.values).values;
  if (!s.upstream?.length) throw missing("upstream", "chains[].upstream");
  const { startWriter } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(file.values), base: { role: "writer" } });
  const w = await startWriter({ ...s, ...storeAndBusSpecs(s, file.extras) }, { logger });
  if (w.statusPort !== undefined) logger.info({ port: w.statusPort }, "writer status on /status");
  onShutdown(() => w.close());
});

const resumeWriter = program
  .command("resume-writer")
  .description("let a writer halted by a reorg deeper than reorgMax follow it");
addOptions(resumeWriter, resumeRole).action(async () => {
  const s = resolveRole(resumeWriter, resumeRole, {}).values;
  if (s.statusPort === undefined) throw missing("statusPort", "nodes[].statusPort");
  const res = await fetch(`http://${s.host}:${s.statusPort}/resume`, { method: "POST" });
  const body = (await res.json()) as { resumed: boolean };
  console.log(body.resumed ? "writer resumed" : "writer was not halted");
  process.exitCode = body.resumed ? 0 : 1;
});

/**
 * The chains a reader or archiver process serves: the file's node entry's (several: the chain
 * options must not come from a flag or variable, which cannot say which chain they mean), else
 * the one the flags and variables describe.
 */
function servedChains(
  cmd: Command,
  file: ReaderFileSettings,
  config: string | undefined,
): (
  s: Pick<ReaderChainOptions, "chainId" | "prefix" | "upstream"> & { dataDir?: string; rpcPort?: number },
) => ReaderChainOptions[] {
  const many = file.chains.length > 1;
  if (many) {
    for (const k of READER_CHAIN_KEYS) {
      if (k !== "prefix" && givenOutsideFile(cmd, k))
        throw new CommonError(
          "CONFIG_INVALID",
          `${k} names one chain, but node ${file.node} serves ${file.chains.length}: set it per chain in ${config}`,
        );
    }
  }
  const prefixGiven = givenOutsideFile(cmd, "prefix");
  return (s) => {
    if (many) return file.chains.map((c) => ({ ...c, prefix: prefixGiven ? s.prefix : c.prefix }));
    if (s.dataDir === undefined || s.dataDir === "") throw missing("dataDir", "nodes[].chains[].dataDir");
    if (s.rpcPort === undefined) throw missing("rpcPort", "nodes[].chains[].rpcPort");
    const { chainId, prefix, dataDir, rpcPort, upstream } = s;
    return [{ chainId, name: file.chains[0]?.name, prefix, dataDir, rpcPort, upstream }];
  };
}

const reader = program
  .command("reader")
  .description(
    "apply committed blocks into a local database and serve Ethereum JSON-RPC (one chain, or every chain of a --node)",
  );
addOptions(reader, { ...fileOptions, ...readerRole }).action(async () => {
  const f = resolveRole(reader, fileOptions, {}).values;
  const cfg = loadIfGiven(f.config);
  const file: ReaderFileSettings = cfg
    ? readerFileSettings(cfg, { node: f.node })
    : { values: {}, extras: {}, chains: [] };
  const s = resolveRole(reader, readerRole, file.values).values;
  const chains = servedChains(reader, file, f.config)(s);
  const { startReaderNode } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(file.values), base: { role: "reader" } });
  const node = await startReaderNode({ ...s, ...storeAndBusSpecs(s, file.extras), chains }, { logger });
  node.readers.forEach((r, i) => {
    const c = chains[i];
    logger.info(
      {
        url: `http://${s.rpcHost}:${r.port}/`,
        chainId: r.db.chainInfo()?.chainId ?? c?.chainId,
        chain: c?.name,
        workers: s.workers,
      },
      "reader serving JSON-RPC",
    );
  });
  onShutdown(() => node.close());
});

const archiver = program
  .command("archiver")
  .description(
    "keep everything the store holds for a chain on local disk (fsynced), with state at every height served as JSON-RPC, scheduled proven snapshots, and the recovery API",
  );
addOptions(archiver, { ...fileOptions, ...archiverRole }).action(async () => {
  const f = resolveRole(archiver, fileOptions, {}).values;
  const cfg = loadIfGiven(f.config);
  const file: ReaderFileSettings = cfg
    ? readerFileSettings(cfg, { node: f.node, role: "archiver" })
    : { values: {}, extras: {}, chains: [] };
  const chains = servedChains(archiver, file, f.config);
  const s = resolveRole(archiver, archiverRole, file.values).values;
  const { startArchiverNode } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(file.values), base: { role: "archiver" } });
  const node = await startArchiverNode(
    { ...s, ...storeAndBusSpecs(s, file.extras), chains: chains(s) },
    { logger },
  );
  for (const c of node.chains) {
    logger.info(
      {
        url: `http://${s.rpcHost}:${c.reader.port}/`,
        chainId: c.reader.db.chainId,
        recovery: "/recovery/v1/",
      },
      "archiver serving JSON-RPC, /status and the recovery API",
    );
  }
  onShutdown(() => node.close());
});

const recover = program.command("recover").description("rebuild lost data from archivers");
const recoverStoreCmd = recover
  .command("store")
  .description("rebuild a wiped or empty object store from one or more archivers, verifying every object");
addOptions(recoverStoreCmd, recoverRole).action(async () => {
  const s = resolveRole(recoverStoreCmd, recoverRole, {}).values;
  if (s.to === undefined || s.to === "") throw missing("to", "--to");
  const { recoverStore } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(), base: { role: "recover" } });
  const summary = await recoverStore(
    { ...s, to: storeSpecOf({ ...s, store: s.to }), from: s.from ?? [] },
    { logger },
  );
  console.log(JSON.stringify(summary, null, 2));
  process.exitCode = summary.chains.some((c) => c.refused.some((r) => !r.recovered)) ? 1 : 0;
});

const exportCmd = program
  .command("export")
  .description(
    "write the chain's history as e2store ere files (geth import-history, reth import-era, Nimbus)",
  );
addOptions(exportCmd, exportRole).action(async () => {
  const s = resolveRole(exportCmd, exportRole, {}).values;
  if (s.out === undefined || s.out === "") throw missing("out", "--out");
  const { exportHistory } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(), base: { role: "export" } });
  const source =
    s.dataDir !== undefined && s.dataDir !== ""
      ? { dataDir: s.dataDir }
      : { store: storeSpecOf(s), prefix: s.prefix, chainId: s.chainId };
  const report = await exportHistory(
    { out: s.out, source, from: s.from, to: s.to, network: s.network },
    { logger },
  );
  console.log(JSON.stringify(report, null, 2));
});
exportCmd
  .command("verify <dir>")
  .description("re-read every ere file of a directory and check it from its decoded data alone")
  .action(async (dir: string) => {
    const { verifyHistory } = await import("../node/index.ts");
    const r = await verifyHistory(dir);
    for (const f of r.files)
      console.log(`ok ${f.file} blocks ${f.from}-${f.to} (${f.transactions} transactions)`);
    for (const e of r.errors) console.log(`FAILED ${e.file}: ${e.error}`);
    if (r.files.length === 0 && r.errors.length === 0) console.log(`no .ere files in ${dir}`);
    process.exitCode = r.errors.length > 0 || r.files.length === 0 ? 1 : 0;
  });

/** Calls an admin method of a running reader (started with --admin); exits 1 on an error answer. */
async function adminCall(url: string, method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
  if (body.error) {
    const hint = body.error.code === -32601 ? " (is the reader started with --admin?)" : "";
    throw new Error(`${method}: ${body.error.code} ${body.error.message}${hint}`);
  }
  return body.result;
}

/** Where an operator action runs: on a stopped reader's directory, or on a running reader. */
const targetOptions = {
  dataDir: option.text({ description: "database of a stopped reader", arg: "<dir>" }),
  rpc: option.text({ description: "JSON-RPC URL of a running reader started with --admin", arg: "<url>" }),
};

/**
 * Adds an operator action on a reader with its own required option (`own.decl`, read by
 * `own.value`): `offline` on a stopped reader's `--data-dir`, or `online` on a running one's
 * `--rpc`; prints the JSON result.
 */
function operatorAction<T>(
  name: string,
  description: string,
  own: { decl: Options; value: (cmd: Command) => T | undefined },
  act: {
    offline: (dataDir: string, value: T) => Promise<unknown>;
    online: (url: string, value: T) => Promise<unknown>;
  },
): void {
  const cmd = reader.command(name).description(description);
  addOptions(cmd, { ...own.decl, ...targetOptions }).action(async () => {
    const { dataDir, rpc } = resolveRole(cmd, targetOptions, {}).values;
    const value = own.value(cmd);
    if (value === undefined) {
      console.error(`${Object.keys(own.decl).map(flagName).join(", ")} is required`);
      process.exitCode = 2;
      return;
    }
    const run =
      dataDir !== undefined && rpc === undefined
        ? () => act.offline(dataDir, value)
        : rpc !== undefined && dataDir === undefined
          ? () => act.online(rpc, value)
          : undefined;
    if (!run) {
      console.error(
        "give either --data-dir (a stopped reader) or --rpc (a running one, started with --admin)",
      );
      process.exitCode = 2;
      return;
    }
    try {
      console.log(JSON.stringify((await run()) ?? null));
    } catch (err) {
      console.error(errorMessage(err));
      process.exitCode = 1;
    }
  });
}

const offlineLogger = () => createLogger({ level: logLevel(), base: { role: "reader" } });

const backtrackTo = {
  to: option.int({
    description: "height to keep; blocks above it are unwound and re-applied",
    arg: "<height>",
  }),
};
operatorAction(
  "backtrack",
  "rewind a reader to a height and re-apply every block above it from the store",
  { decl: backtrackTo, value: (cmd) => resolveRole(cmd, backtrackTo, {}).values.to },
  {
    offline: async (dir, to) =>
      (await import("../node/index.ts")).backtrackOffline(dir, to, { logger: offlineLogger() }),
    online: (url, to) => adminCall(url, "chainkeep_backtrack", [to]),
  },
);

const switchTo = { prefix: option.text({ description: "the writer line to follow", arg: "<name>" }) };
operatorAction(
  "switch",
  "make a reader follow another writer line (reset to applied − 2·reorgMax, verify, resync)",
  { decl: switchTo, value: (cmd) => resolveRole(cmd, switchTo, {}).values.prefix },
  {
    offline: async (dir, prefix) =>
      (await import("../node/index.ts")).switchOffline(dir, prefix, { logger: offlineLogger() }),
    online: (url, prefix) => adminCall(url, "chainkeep_switchPrefix", [prefix]),
  },
);

const demo = program
  .command("demo")
  .description("run a demo cluster on this machine: anvil chain(s), traffic, writers and readers");
addOptions(demo, demoRole).action(async () => {
  const s = resolveRole(demo, demoRole, {}).values;
  const { runDemo } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(), base: { role: "demo" } });
  const d = await runDemo(s, { logger, out: process.stdout });
  onShutdown(() => d.close());
});

const config = program.command("config").description("cluster configuration files");
config
  .command("check")
  .description("validate a configuration file: prints OK, or every problem by key (exit 1)")
  .argument("<file>", "the YAML file")
  .action(async (file: string) => {
    const cfg = loadConfig(file);
    const writers = cfg.nodes.filter((n) => n.role === "writer").length;
    const readers = cfg.nodes.length - writers;
    const { store, bus } = clusterStoreAndBus(cfg);
    const { describeStoreAndBus } = await import("../node/index.ts");
    const described = store && bus ? describeStoreAndBus(store, bus) : undefined;
    console.log(`${file}: OK`);
    console.log(`  chains: ${cfg.chains.map((c) => `${c.name} (${c.chainId})`).join(", ") || "none"}`);
    console.log(`  nodes: ${writers} writer(s), ${readers} reader(s)`);
    console.log(`  store: ${described?.store ?? "not set (from flags or environment)"}`);
    console.log(`  bus: ${described?.bus ?? cfg.bus?.type ?? "not set (from flags or environment)"}`);
  });

registerArchiveCommands(program, {
  logger: () => createLogger({ level: logLevel(), base: { role: "pack" } }),
  onShutdown,
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Configuration mistakes are the user's to fix: say what is wrong, without a stack trace.
  if (err instanceof ChainkeepError && err.code.startsWith("CONFIG_")) {
    process.stderr.write(`chainkeep: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
