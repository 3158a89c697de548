import { availableParallelism } from "node:os";
import { Command, InvalidArgumentError } from "commander";
import { createLogger } from "../util/logger.ts";

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${v} is not a non-negative integer`);
  return n;
}

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
  .option("--log-level <level>", "pino log level", process.env.CHAINKEEP_LOG_LEVEL ?? "info");

program
  .command("writer")
  .description("follow an upstream node and commit every block to the object store")
  .requiredOption("--upstream <url>", "upstream JSON-RPC URL (ws:// enables newHeads subscriptions)")
  .requiredOption("--store <dir>", "object-store directory")
  .option("--prefix <name>", "writer line prefix", "primary")
  .option("--chain-id <id>", "chain id (default: ask the upstream)", int)
  .option("--from-block <n>", "first height to commit when the store is empty", int, 0)
  .option("--poll-interval <ms>", "head poll interval in ms", int, 1000)
  .option("--reorg-max <n>", "reorg window in blocks", int, 64)
  .option("--cross-check <mode>", "check state diffs against plain reads: always | sample | off", "sample")
  .option(
    "--diff-source <src>",
    "state diffs from: auto | replay (trace_replayBlockTransactions) | prestate",
    "auto",
  )
  .option("--bus-dir <dir>", "file-system bus directory (default: <store>/.bus)")
  .option("--status-port <port>", "serve /status, /health and /metrics on this port", int)
  .action(async (o) => {
    const { startWriter } = await import("../writer/index.ts");
    const logger = createLogger({ level: program.opts().logLevel, base: { role: "writer" } });
    const w = await startWriter(
      {
        upstream: o.upstream,
        store: o.store,
        prefix: o.prefix,
        chainId: o.chainId,
        fromBlock: o.fromBlock,
        pollIntervalMs: o.pollInterval,
        reorgMax: o.reorgMax,
        crossCheck: o.crossCheck,
        diffSource: o.diffSource,
        initialState: o.initialState,
        busDir: o.busDir ?? `${o.store}/.bus`,
        statusPort: o.statusPort,
      },
      { logger },
    );
    if (w.statusPort !== undefined) logger.info({ port: w.statusPort }, "writer status on /status");
    onShutdown(() => w.close());
  });

program
  .command("resume-writer")
  .description("let a writer halted by a reorg deeper than reorgMax follow it")
  .requiredOption("--status-port <port>", "the writer's --status-port", int)
  .option("--host <host>", "the writer's status address", "127.0.0.1")
  .action(async (o) => {
    const res = await fetch(`http://${o.host}:${o.statusPort}/resume`, { method: "POST" });
    const body = (await res.json()) as { resumed: boolean };
    console.log(body.resumed ? "writer resumed" : "writer was not halted");
    process.exitCode = body.resumed ? 0 : 1;
  });

const reader = program
  .command("reader")
  .description("apply committed blocks into a local database and serve Ethereum JSON-RPC")
  // Checked in the action: required options of a command with subcommands would be required by
  // the subcommands too.
  .option("--store <dir>", "object-store directory (required)")
  .option("--data-dir <dir>", "local database directory (required)")
  .option("--rpc-port <port>", "JSON-RPC port (HTTP and WebSocket, path /) (required)", int)
  .option("--rpc-host <host>", "address to bind", "127.0.0.1")
  .option("--upstream <url>", "upstream to forward eth_sendRawTransaction and unknown state to")
  .option(
    "--prefix <name>",
    "writer line prefix (default: the one the database follows, primary when new); another one switches",
  )
  .option("--chain-id <id>", "chain id (default: the only chain under the prefix)", int)
  .option("--poll-interval <ms>", "store poll interval in ms", int, 1000)
  .option("--bus-dir <dir>", "file-system bus directory (default: <store>/.bus)")
  .option("--max-batch <n>", "largest JSON-RPC batch", int, 1000)
  .option("--max-log-range <n>", "longest eth_getLogs block range", int, 10000)
  .option(
    "--workers <n>",
    "processes serving JSON-RPC on the port (0 or 1: this process; default: min(2, cores))",
    int,
    Math.min(2, availableParallelism()),
  )
  .option(
    "--admin",
    "serve the admin methods (chainkeep_backtrack, chainkeep_switchPrefix, chainkeep_readerStatus)",
  )
  .action(async (o) => {
    for (const [key, flag] of [
      ["store", "--store <dir>"],
      ["dataDir", "--data-dir <dir>"],
      ["rpcPort", "--rpc-port <port>"],
    ] as const) {
      if (o[key] === undefined) reader.error(`error: required option '${flag}' not specified`);
    }
    const { startReader } = await import("../reader/index.ts");
    const logger = createLogger({ level: program.opts().logLevel, base: { role: "reader" } });
    const r = await startReader(
      {
        store: o.store,
        dataDir: o.dataDir,
        rpcPort: o.rpcPort,
        rpcHost: o.rpcHost,
        upstream: o.upstream,
        prefix: o.prefix,
        chainId: o.chainId,
        pollIntervalMs: o.pollInterval,
        busDir: o.busDir ?? `${o.store}/.bus`,
        maxBatch: o.maxBatch,
        maxLogRange: o.maxLogRange,
        workers: o.workers,
        admin: o.admin ?? false,
      },
      { logger },
    );
    logger.info({ url: `http://${o.rpcHost}:${r.port}/`, workers: o.workers }, "reader serving JSON-RPC");
    onShutdown(() => r.close());
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
    const { backtrackOffline } = await import("../reader/index.ts");
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
    const { switchOffline } = await import("../reader/index.ts");
    const logger = createLogger({ level: program.opts().logLevel, base: { role: "reader" } });
    await operate(
      o,
      (dir) => switchOffline(dir, o.prefix, { logger }),
      (url) => adminCall(url, "chainkeep_switchPrefix", [o.prefix]),
    );
  });

program
  .command("demo")
  .description("run a demo cluster: anvil, traffic, one writer and two readers on a directory store")
  .option("--dir <dir>", "working directory (default: a new temporary one)")
  .option("--rpc-port <port>", "first reader's RPC port (the second uses the next one)", int, 8545)
  .option("--block-time <s>", "anvil block time in seconds (0 = automine)", int, 1)
  .option("--tx-interval <ms>", "traffic round interval in ms", int, 500)
  .action(async (o) => {
    const { runDemo } = await import("../demo/index.ts");
    const logger = createLogger({ level: program.opts().logLevel, base: { role: "demo" } });
    const demo = await runDemo(
      { dir: o.dir, rpcPort: o.rpcPort, blockTime: o.blockTime, txIntervalMs: o.txInterval },
      { logger, out: process.stdout },
    );
    onShutdown(() => demo.close());
  });

await program.parseAsync(process.argv);
