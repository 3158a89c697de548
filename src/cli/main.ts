import { availableParallelism } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";
import { createLogger } from "../util/logger.ts";
import { addArchivingOptions, archivingFrom, chainIdOf, registerArchiveCommands } from "./archive.ts";

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
  .option("--pack", "also pack segments, apply bundle retention and take scheduled snapshots");
addArchivingOptions(program.commands[program.commands.length - 1] as Command, int).action(async (o) => {
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
  let archiving: { close(): Promise<void> } | undefined;
  if (o.pack) {
    const [{ ChainStore, FsStore }] = await Promise.all([import("../store/index.ts")]);
    const store = new FsStore({ dir: o.store });
    let chainId = o.chainId as number | undefined;
    while (chainId === undefined) {
      chainId = await chainIdOf(store, o.prefix).catch(() => undefined);
      if (chainId === undefined) await new Promise((r) => setTimeout(r, 1000));
    }
    archiving = archivingFrom(o, new ChainStore(store, o.prefix, chainId), logger.child({ module: "pack" }));
  }
  onShutdown(async () => {
    await archiving?.close();
    await w.close();
  });
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

program
  .command("reader")
  .description("apply committed blocks into a local database and serve Ethereum JSON-RPC")
  .requiredOption("--store <dir>", "object-store directory")
  .requiredOption("--data-dir <dir>", "local database directory")
  .requiredOption("--rpc-port <port>", "JSON-RPC port (HTTP and WebSocket, path /)", int)
  .option("--rpc-host <host>", "address to bind", "127.0.0.1")
  .option("--upstream <url>", "upstream to forward eth_sendRawTransaction and unknown state to")
  .option("--prefix <name>", "writer line prefix", "primary")
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
    "--history <mode>",
    "state history: full (the last --history-blocks) | archive (every height)",
    "full",
  )
  .option("--history-blocks <n>", "blocks of state history in full mode", int, 128)
  .option("--no-snapshots", "do not restore a snapshot: start from the chain's start")
  .option("--no-segments", "do not backfill from segments: apply every per-block bundle")
  .option("--live-lag <n>", "LIVE within this many blocks of the writer's head", int, 2)
  .option("--fall-behind <n>", "a LIVE reader this many blocks behind goes back to HEAD", int, 256)
  .option("--progress <mode>", "sync progress: tty (bars) | log | off (default: tty on a terminal, else log)")
  .addOption(
    new Option("--sync-step-delay <ms>", "pause after each sync step (tests)").argParser(int).hideHelp(),
  )
  .action(async (o) => {
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
        sync: {
          useSnapshots: o.snapshots,
          useSegments: o.segments,
          liveLag: o.liveLag,
          fallBehind: o.fallBehind,
          history: { mode: o.history === "archive" ? "archive" : "full", blocks: o.historyBlocks },
          stepDelayMs: o.syncStepDelay,
        },
        progress: o.progress ?? (process.stderr.isTTY ? "tty" : "log"),
      },
      { logger },
    );
    logger.info({ url: `http://${o.rpcHost}:${r.port}/`, workers: o.workers }, "reader serving JSON-RPC");
    onShutdown(() => r.close());
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

registerArchiveCommands(program, {
  int,
  logger: () => createLogger({ level: program.opts().logLevel, base: { role: "pack" } }),
  onShutdown,
});

await program.parseAsync(process.argv);
