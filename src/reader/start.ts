import { Counter, Gauge, Registry } from "prom-client";
import { type Bus, FsBus, MemoryBus } from "../bus/index.ts";
import { ChainEventEmitter, RpcServer } from "../rpc/index.ts";
import { ChainStore, FsStore, type ObjectStore } from "../store/index.ts";
import { type ProgressMode, Syncer, type SyncerOptions, showProgress } from "../sync/index.ts";
import { ChainkeepError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { ChainDb } from "./db.ts";
import { Replicator, type ReplicatorStatus } from "./replicator.ts";
import { RpcWorkers } from "./workers.ts";

/** Configuration of a reader process. */
export interface ReaderConfig {
  /** Object-store directory. */
  store: string;
  /** Local database directory. */
  dataDir: string;
  /** JSON-RPC port (0 = any free port). */
  rpcPort: number;
  /** Address to bind (default 127.0.0.1). */
  rpcHost?: string;
  /** Upstream for eth_sendRawTransaction and state the mirror cannot answer. */
  upstream?: string;
  prefix: string;
  /** Chain id; when absent, the only chain under the prefix. */
  chainId?: number;
  /** Store poll interval, in ms. */
  pollIntervalMs?: number;
  /** Directory of the file-system bus; in-process bus when absent. */
  busDir?: string;
  maxBatch?: number;
  maxLogRange?: number;
  /**
   * Processes serving JSON-RPC (default 1). 0 or 1: this process serves, next to the replicator.
   * N ≥ 2: N worker processes (node:cluster) serve on the same port from the database opened
   * read-only, while this process applies blocks (LMDB: one writer, many readers).
   */
  workers?: number;
  /** Staged sync (snapshots, segments, LIVE lag, history mode of a new database). */
  sync?: SyncerOptions;
  /** Sync progress: bars on a terminal ("tty"), log lines ("log") or nothing ("off", the default). */
  progress?: ProgressMode;
}

/** A running reader. */
export interface RunningReader {
  db: ChainDb;
  replicator: Replicator;
  /** The staged sync (it starts and stops the replicator). */
  syncer: Syncer;
  /** The RPC server when this process serves (`workers` 0 or 1). */
  server: RpcServer | undefined;
  /** The worker processes when they serve (`workers` ≥ 2). */
  workers: RpcWorkers | undefined;
  port: number;
  close(): Promise<void>;
}

/** Finds the only chain id under `prefix/` in the store. */
async function discoverChainId(store: ObjectStore, prefix: string): Promise<number> {
  const keys = await store.list(`${prefix}/`);
  const ids = new Set<number>();
  for (const k of keys) {
    const m = /^[^/]+\/(\d+)\/meta\.json$/.exec(k);
    if (m) ids.add(Number(m[1]));
  }
  if (ids.size === 1) return [...ids][0] as number;
  throw new ChainkeepError(
    "CONFIG_INVALID",
    ids.size === 0
      ? `no chain under prefix ${prefix} yet; pass --chain-id`
      : `several chains under ${prefix}; pass --chain-id`,
    { chains: [...ids] },
  );
}

/**
 * Composition root of the reader role: store, bus, local database, replicator and RPC server (or
 * RPC worker processes, `workers` ≥ 2), built in order and closed in reverse.
 */
export async function startReader(
  config: ReaderConfig,
  deps: { logger: Logger; store?: ObjectStore; bus?: Bus },
): Promise<RunningReader> {
  const logger = deps.logger.child({ module: "reader" });
  const store = deps.store ?? new FsStore({ dir: config.store });
  const bus = deps.bus ?? (config.busDir ? new FsBus({ dir: config.busDir }, { logger }) : new MemoryBus());
  let chainId = config.chainId;
  while (chainId === undefined) {
    try {
      chainId = await discoverChainId(store, config.prefix);
    } catch (err) {
      // The writer may not have written meta.json yet: wait for it.
      logger.info({ err: (err as Error).message }, "waiting for a chain in the store");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const db = new ChainDb({ path: config.dataDir, chainId });
  const chain = new ChainStore(store, config.prefix, chainId);
  const replicator = new Replicator(
    { pollIntervalMs: config.pollIntervalMs, stepDelayMs: config.sync?.stepDelayMs },
    { chain, db, bus, logger },
  );
  const syncer = new Syncer(config.sync ?? {}, {
    chain,
    db,
    replicator,
    logger: logger.child({ module: "sync" }),
  });
  const stopProgress = showProgress(syncer, config.progress ?? "off", { logger });
  const registry = new Registry();
  registerReaderMetrics(registry, () => replicator.status());
  new Gauge({
    name: "chainkeep_reader_sync_stage",
    help: "Staged sync stage: 0 CHECKPOINT, 1 BACKFILL, 2 HEAD, 3 LIVE",
    registers: [registry],
    collect() {
      this.set(["CHECKPOINT", "BACKFILL", "HEAD", "LIVE"].indexOf(syncer.current()));
    },
  });
  const closeRest = async () => {
    stopProgress();
    await syncer.stop();
    await db.close();
    if (!deps.bus) await bus.close();
    if (!deps.store) await store.close();
  };

  if ((config.workers ?? 1) >= 2) {
    const workers = new RpcWorkers(
      {
        count: config.workers as number,
        config: {
          dataDir: config.dataDir,
          chainId,
          host: config.rpcHost,
          port: config.rpcPort,
          upstream: config.upstream,
          maxBatch: config.maxBatch,
          maxLogRange: config.maxLogRange,
          logLevel: logger.level,
        },
      },
      { logger, metrics: registry },
    );
    replicator.on("applied", ({ height, bundle, removedLogs }) => {
      const logs = bundle.receipts.flatMap((r) => r.logs);
      workers.publish({ height, hash: bundle.block.hash, block: bundle.block, logs, removed: removedLogs });
    });
    syncer.start();
    let port: number;
    try {
      ({ port } = await workers.start());
    } catch (err) {
      await workers.close();
      await closeRest();
      throw err;
    }
    logger.info({ workers: workers.size, port }, "rpc served by worker processes");
    return {
      db,
      replicator,
      syncer,
      server: undefined,
      workers,
      port,
      async close() {
        await workers.close();
        await closeRest();
      },
    };
  }

  const events = new ChainEventEmitter();
  replicator.on("applied", ({ height, bundle, removedLogs }) => {
    const logs = bundle.receipts.flatMap((r) => r.logs);
    events.emitBlock({ height, hash: bundle.block.hash, block: bundle.block, logs, removed: removedLogs });
  });
  const server = new RpcServer(
    {
      host: config.rpcHost,
      port: config.rpcPort,
      upstreamUrl: config.upstream,
      maxBatch: config.maxBatch,
      maxLogRange: config.maxLogRange,
    },
    { view: db, events, logger, metrics: registry },
  );
  syncer.start();
  const { port } = await server.start();
  return {
    db,
    replicator,
    syncer,
    server,
    workers: undefined,
    port,
    async close() {
      await server.close();
      await closeRest();
    },
  };
}

function registerReaderMetrics(registry: Registry, status: () => ReplicatorStatus): void {
  new Gauge({
    name: "chainkeep_reader_height",
    help: "Applied block height",
    registers: [registry],
    collect() {
      this.set(status().height);
    },
  });
  new Gauge({
    name: "chainkeep_reader_lag_blocks",
    help: "Highest head record in the store minus the applied height",
    registers: [registry],
    collect() {
      this.set(status().lag);
    },
  });
  new Counter({
    name: "chainkeep_reader_bundles_refused_total",
    help: "Bundles refused by verification",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().refused);
    },
  });
}
