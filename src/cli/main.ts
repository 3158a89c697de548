import { availableParallelism } from "node:os";
import { Command, Option } from "commander";
import { describeBus } from "../bus/index.ts";
import {
  busSpecFrom,
  type ClusterConfig,
  clusterStoreAndBus,
  envName,
  type FileExtras,
  loadConfig,
  type ReaderChainSettings,
  readerFileSettings,
  storeSpecFrom,
  writerFileSettings,
} from "../config/index.ts";
import { describeStore } from "../store/index.ts";
import { ChainkeepError, CommonError } from "../util/errors.ts";
import { createLogger } from "../util/logger.ts";
import { ARCHIVING_FLAGS, archivingFrom, PACK_FLAG, registerArchiveCommands } from "./archive.ts";
import {
  addFlags,
  bool,
  CONFIG_FLAGS,
  type Flag,
  givenOutsideFile,
  int,
  oneOf,
  resolveFlags,
  STORE_BUS_FLAGS,
} from "./flags.ts";

/** Runs `close` on SIGINT/SIGTERM, once, then exits. */
function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const handler = (sig: string) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`\n${sig}: shutting down\n`);
    close()
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      });
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}

const program = new Command("chainkeep")
  .enablePositionalOptions()
  .description("Keeps EVM chains: mirrors them through object storage and serves Ethereum JSON-RPC")
  .addOption(
    new Option("--log-level <level>", "pino log level (default: info)")
      .env("CHAINKEEP_LOG_LEVEL")
      .choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
  );

/** The log level: flag, env, the file's `logLevel`, then info. */
function logLevel(fileLevel: unknown): string {
  const src = program.getOptionValueSource("logLevel");
  if (src === "cli" || src === "env") return program.opts().logLevel as string;
  return typeof fileLevel === "string" ? fileLevel : "info";
}

const WRITER_FLAGS: Flag[] = [
  ...STORE_BUS_FLAGS,
  { flags: "--prefix <name>", description: "writer line prefix", default: "primary" },
  {
    flags: "--upstream <url>",
    description: "upstream JSON-RPC URL(s), comma-separated (ws:// enables newHeads subscriptions)",
  },
  { flags: "--chain-id <id>", description: "chain id", parse: int, defaultText: "ask the upstream" },
  {
    flags: "--from-block <n>",
    description: "first height to commit when the store is empty",
    parse: int,
    default: 0,
  },
  { flags: "--poll-interval <ms>", description: "head poll interval in ms", parse: int, default: 1000 },
  { flags: "--reorg-max <n>", description: "reorg window in blocks", parse: int, default: 64 },
  {
    flags: "--cross-check <mode>",
    description: "check state diffs against plain reads: always | sample | off",
    parse: oneOf("always", "sample", "off"),
    default: "sample",
  },
  {
    flags: "--diff-source <src>",
    description: "state diffs from: auto | replay (trace_replayBlockTransactions) | prestate",
    parse: oneOf("auto", "replay", "prestate"),
    default: "auto",
  },
  {
    flags: "--initial-state <mode>",
    description: "capture the state at --from-block: auto | none (readers forward untouched state)",
    parse: oneOf("auto", "none"),
    default: "auto",
  },
  {
    flags: "--status-port <port>",
    description: "serve /status, /health and /metrics on this port",
    parse: int,
  },
  { flags: "--status-host <host>", description: "address of the status server", default: "127.0.0.1" },
  PACK_FLAG,
  ...ARCHIVING_FLAGS,
];

/** Reader settings that name one chain: with several chains they come from the file, per chain. */
const READER_CHAIN_KEYS = ["chainId", "dataDir", "rpcPort", "upstream"] as const;

const READER_FLAGS: Flag[] = [
  ...STORE_BUS_FLAGS,
  {
    flags: "--prefix <name>",
    description: "writer line prefix; another one than the database follows switches lines",
    defaultText: "the one the database follows, primary when new",
  },
  { flags: "--data-dir <dir>", description: "local database directory" },
  { flags: "--rpc-port <port>", description: "JSON-RPC port (HTTP and WebSocket, path /)", parse: int },
  { flags: "--rpc-host <host>", description: "address to bind", default: "127.0.0.1" },
  {
    flags: "--upstream <url>",
    description: "upstream to forward eth_sendRawTransaction and unknown state to",
  },
  {
    flags: "--chain-id <id>",
    description: "chain id",
    parse: int,
    defaultText: "the only chain under the prefix",
  },
  { flags: "--poll-interval <ms>", description: "store poll interval in ms", parse: int, default: 1000 },
  { flags: "--max-batch <n>", description: "largest JSON-RPC batch", parse: int, default: 1000 },
  {
    flags: "--max-log-range <n>",
    description: "longest eth_getLogs block range",
    parse: int,
    default: 10000,
  },
  {
    flags: "--workers <n>",
    description: "processes serving JSON-RPC per chain (0 or 1: this process)",
    parse: int,
    default: Math.min(2, availableParallelism()),
    defaultText: "min(2, cores)",
  },
  {
    flags: "--admin [bool]",
    description:
      "serve the admin methods (chainkeep_backtrack, chainkeep_switchPrefix, chainkeep_readerStatus)",
    parse: bool,
    default: false,
  },
  {
    flags: "--history <mode>",
    description: "state history of a new database: full (the last --history-blocks) | archive (every height)",
    parse: oneOf("full", "archive"),
    default: "full",
  },
  {
    flags: "--history-blocks <n>",
    description: "blocks of state history in full mode",
    parse: int,
    default: 128,
  },
  {
    flags: "--snapshots <bool>",
    description: "restore the newest snapshot when the database is new (false: from the chain's start)",
    parse: bool,
    default: true,
  },
  {
    flags: "--segments <bool>",
    description: "backfill from segments (false: apply every per-block bundle)",
    parse: bool,
    default: true,
  },
  {
    flags: "--live-lag <n>",
    description: "LIVE within this many blocks of the writer's head",
    parse: int,
    default: 2,
  },
  {
    flags: "--fall-behind <n>",
    description: "a LIVE reader this many blocks behind goes back to HEAD",
    parse: int,
    default: 256,
  },
  {
    flags: "--progress <mode>",
    description: "sync progress: tty (bars) | log | off",
    parse: oneOf("tty", "log", "off"),
    defaultText: "tty on a terminal, else log",
  },
  {
    flags: "--sync-step-delay <ms>",
    description: "pause after each sync step (tests)",
    parse: int,
    hidden: true,
  },
];

function loadIfGiven(file: unknown): ClusterConfig | undefined {
  return typeof file === "string" && file !== "" ? loadConfig(file) : undefined;
}

function missing(flag: string, where: string): ChainkeepError {
  const key = flag.replace(/^--/, "").replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  return new CommonError(
    "CONFIG_MISSING",
    `${flag} is required: pass it, set ${envName(key)}, or give it in the configuration file (${where})`,
  );
}

const writer = program
  .command("writer")
  .description("follow an upstream node and commit every block to the object store");
addFlags(writer, [...CONFIG_FLAGS, ...WRITER_FLAGS]).action(async (o) => {
  const cfg = loadIfGiven(o.config);
  const file = cfg
    ? writerFileSettings(cfg, {
        node: o.node,
        chainId: givenOutsideFile(writer, "chainId") ? (o.chainId as number) : undefined,
      })
    : { values: {}, extras: {} as FileExtras };
  const { values: v } = resolveFlags(writer, WRITER_FLAGS, file.values);
  if (typeof v.upstream !== "string" || v.upstream === "") throw missing("--upstream", "chains[].upstream");
  const store = storeSpecFrom(v, file.extras);
  const bus = busSpecFrom(v, store, file.extras);
  const { startWriter } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(file.values.logLevel), base: { role: "writer" } });
  const w = await startWriter(
    {
      upstream: v.upstream.split(",").map((u) => u.trim()),
      store,
      bus,
      prefix: v.prefix as string,
      chainId: v.chainId as number | undefined,
      fromBlock: v.fromBlock as number,
      pollIntervalMs: v.pollInterval as number,
      reorgMax: v.reorgMax as number,
      crossCheck: v.crossCheck as "always" | "sample" | "off",
      diffSource: v.diffSource as "auto" | "replay" | "prestate",
      initialState: v.initialState as "auto" | "none",
      statusPort: v.statusPort as number | undefined,
      statusHost: v.statusHost as string,
      archiving: v.pack === true ? archivingFrom(v) : undefined,
    },
    { logger },
  );
  if (w.statusPort !== undefined) logger.info({ port: w.statusPort }, "writer status on /status");
  onShutdown(() => w.close());
});

const resumeWriter = program
  .command("resume-writer")
  .description("let a writer halted by a reorg deeper than reorgMax follow it");
const RESUME_FLAGS: Flag[] = [
  { flags: "--status-port <port>", description: "the writer's --status-port", parse: int },
  { flags: "--host <host>", description: "the writer's status address", default: "127.0.0.1" },
];
addFlags(resumeWriter, RESUME_FLAGS).action(async () => {
  const { values: v } = resolveFlags(resumeWriter, RESUME_FLAGS, {});
  if (v.statusPort === undefined) throw missing("--status-port", "nodes[].statusPort");
  const res = await fetch(`http://${v.host}:${v.statusPort}/resume`, { method: "POST" });
  const body = (await res.json()) as { resumed: boolean };
  console.log(body.resumed ? "writer resumed" : "writer was not halted");
  process.exitCode = body.resumed ? 0 : 1;
});

const reader = program
  .command("reader")
  .description(
    "apply committed blocks into a local database and serve Ethereum JSON-RPC (one chain, or every chain of a --node)",
  );
addFlags(reader, [...CONFIG_FLAGS, ...READER_FLAGS]).action(async (o) => {
  const cfg = loadIfGiven(o.config);
  const file = cfg
    ? readerFileSettings(cfg, { node: o.node })
    : { values: {}, extras: {} as FileExtras, chains: [] as ReaderChainSettings[], node: undefined };
  const many = file.chains.length > 1;
  if (many) {
    for (const k of READER_CHAIN_KEYS) {
      if (givenOutsideFile(reader, k))
        throw new CommonError(
          "CONFIG_INVALID",
          `${k} names one chain, but node ${file.node} serves ${file.chains.length}: set it per chain in ${o.config}`,
        );
    }
  }
  const only = file.chains.length === 1 ? file.chains[0] : undefined;
  const fileValues = only
    ? {
        ...file.values,
        chainId: only.chainId,
        dataDir: only.dataDir,
        rpcPort: only.rpcPort,
        upstream: only.upstream,
        prefix: only.prefix,
      }
    : file.values;
  const { values: v } = resolveFlags(reader, READER_FLAGS, fileValues);
  const prefixGiven = givenOutsideFile(reader, "prefix");
  const chains = many
    ? file.chains.map((c) => ({
        chainId: c.chainId,
        name: c.name,
        prefix: prefixGiven ? (v.prefix as string) : c.prefix,
        dataDir: c.dataDir,
        rpcPort: c.rpcPort,
        upstream: c.upstream,
      }))
    : [
        {
          chainId: v.chainId as number | undefined,
          name: only?.name,
          prefix: v.prefix as string | undefined,
          dataDir: v.dataDir as string,
          rpcPort: v.rpcPort as number,
          upstream: v.upstream as string | undefined,
        },
      ];
  if (!many && (v.dataDir === undefined || v.dataDir === ""))
    throw missing("--data-dir", "nodes[].chains[].dataDir");
  if (!many && v.rpcPort === undefined) throw missing("--rpc-port", "nodes[].chains[].rpcPort");
  const store = storeSpecFrom(v, file.extras);
  const bus = busSpecFrom(v, store, file.extras);
  const { startReaderNode } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(file.values.logLevel), base: { role: "reader" } });
  const node = await startReaderNode(
    {
      store,
      bus,
      chains,
      rpcHost: v.rpcHost as string,
      pollIntervalMs: v.pollInterval as number,
      maxBatch: v.maxBatch as number,
      maxLogRange: v.maxLogRange as number,
      workers: v.workers as number,
      admin: v.admin === true,
      sync: {
        useSnapshots: v.snapshots as boolean,
        useSegments: v.segments as boolean,
        liveLag: v.liveLag as number,
        fallBehind: v.fallBehind as number,
        history: { mode: v.history === "archive" ? "archive" : "full", blocks: v.historyBlocks as number },
        stepDelayMs: v.syncStepDelay as number | undefined,
      },
      progress: (v.progress as "tty" | "log" | "off" | undefined) ?? (process.stderr.isTTY ? "tty" : "log"),
    },
    { logger },
  );
  node.readers.forEach((r, i) => {
    const c = chains[i];
    logger.info(
      {
        url: `http://${v.rpcHost}:${r.port}/`,
        chainId: r.db.chainInfo()?.chainId ?? c?.chainId,
        chain: c?.name,
        workers: v.workers,
      },
      "reader serving JSON-RPC",
    );
  });
  onShutdown(() => node.close());
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

/** Runs an operator action offline (--data-dir) or on a running reader (--rpc); prints the JSON result. */
async function operate(
  o: { dataDir?: string; rpc?: string },
  offline: (dataDir: string) => Promise<unknown>,
  online: (url: string) => Promise<unknown>,
): Promise<void> {
  if ((o.dataDir === undefined) === (o.rpc === undefined)) {
    console.error("give either --data-dir (a stopped reader) or --rpc (a running one, started with --admin)");
    process.exitCode = 2;
    return;
  }
  try {
    const result = o.dataDir !== undefined ? await offline(o.dataDir) : await online(o.rpc as string);
    console.log(JSON.stringify(result ?? null));
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 1;
  }
}

reader
  .command("backtrack")
  .description("rewind a reader to a height and re-apply every block above it from the store")
  .requiredOption("--to <height>", "height to keep; blocks above it are unwound and re-applied", int)
  .option("--data-dir <dir>", "database of a stopped reader")
  .option("--rpc <url>", "JSON-RPC URL of a running reader started with --admin")
  .action(async (o) => {
    const { backtrackOffline } = await import("../node/index.ts");
    const logger = createLogger({ level: program.opts().logLevel, base: { role: "reader" } });
    await operate(
      o,
      (dir) => backtrackOffline(dir, o.to, { logger }),
      (url) => adminCall(url, "chainkeep_backtrack", [o.to]),
    );
  });

reader
  .command("switch")
  .description("make a reader follow another writer line (reset to applied − 2·reorgMax, verify, resync)")
  .requiredOption("--prefix <name>", "the writer line to follow")
  .option("--data-dir <dir>", "database of a stopped reader")
  .option("--rpc <url>", "JSON-RPC URL of a running reader started with --admin")
  .action(async (o) => {
    const { switchOffline } = await import("../node/index.ts");
    const logger = createLogger({ level: program.opts().logLevel, base: { role: "reader" } });
    await operate(
      o,
      (dir) => switchOffline(dir, o.prefix, { logger }),
      (url) => adminCall(url, "chainkeep_switchPrefix", [o.prefix]),
    );
  });

const demo = program
  .command("demo")
  .description("run a demo cluster on this machine: anvil chain(s), traffic, writers and readers");
const DEMO_FLAGS: Flag[] = [
  { flags: "--dir <dir>", description: "working directory", defaultText: "a new temporary one" },
  {
    flags: "--rpc-port <port>",
    description: "first RPC port (the others follow it)",
    parse: int,
    default: 8545,
  },
  {
    flags: "--block-time <s>",
    description: "anvil block time in seconds (0 = automine)",
    parse: int,
    default: 1,
  },
  { flags: "--tx-interval <ms>", description: "traffic round interval in ms", parse: int, default: 500 },
  {
    flags: "--chains <n>",
    description:
      "chains to mirror: 1 (one writer, two readers) or more (a beacon and shards, a writer each, one reader process serving all)",
    parse: int,
    default: 1,
  },
];
addFlags(demo, DEMO_FLAGS).action(async () => {
  const { values: v } = resolveFlags(demo, DEMO_FLAGS, {});
  const { runDemo } = await import("../node/index.ts");
  const logger = createLogger({ level: logLevel(undefined), base: { role: "demo" } });
  const d = await runDemo(
    {
      dir: v.dir as string | undefined,
      rpcPort: v.rpcPort as number,
      blockTime: v.blockTime as number,
      txIntervalMs: v.txInterval as number,
      chains: v.chains as number,
    },
    { logger, out: process.stdout },
  );
  onShutdown(() => d.close());
});

const config = program.command("config").description("cluster configuration files");
config
  .command("check")
  .description("validate a configuration file: prints OK, or every problem by key (exit 1)")
  .argument("<file>", "the YAML file")
  .action((file: string) => {
    const cfg = loadConfig(file);
    const writers = cfg.nodes.filter((n) => n.role === "writer").length;
    const readers = cfg.nodes.length - writers;
    const { store, bus } = clusterStoreAndBus(cfg);
    console.log(`${file}: OK`);
    console.log(`  chains: ${cfg.chains.map((c) => `${c.name} (${c.chainId})`).join(", ") || "none"}`);
    console.log(`  nodes: ${writers} writer(s), ${readers} reader(s)`);
    console.log(`  store: ${store ? describeStore(store) : "not set (from flags or environment)"}`);
    console.log(
      `  bus: ${bus ? describeBus(bus) : (cfg.bus?.type ?? "not set (from flags or environment)")}`,
    );
  });

registerArchiveCommands(program, {
  logger: () => createLogger({ level: logLevel(undefined), base: { role: "pack" } }),
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
