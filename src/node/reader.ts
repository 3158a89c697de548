import { fileURLToPath } from "node:url";
import { Counter, Gauge, Registry } from "prom-client";
import { SegmentRanges, StoreCheckpoints } from "../archive/index.ts";
import { type Bus, type BusSpec, describeBus, openBus } from "../bus/index.ts";
import { ChainDb, lockDataDir, Replicator, type ReplicatorStatus, type Unwound } from "../reader/index.ts";
import {
  type BlockEvent,
  ChainEventEmitter,
  type ReaderAdmin,
  RpcServer,
  RpcWorkers,
  type WorkerConfig,
} from "../rpc/index.ts";
import { ChainStore, describeStore, type ObjectStore, openStore, type StoreSpec } from "../store/index.ts";
import { type ProgressMode, Syncer, type SyncerOptions, showProgress } from "../sync/index.ts";
import type { Logger } from "../util/logger.ts";
import { SYNC_STAGES } from "../view/index.ts";
import { Closers, discoverChainId, openStoreAndBus } from "./shared.ts";

/** Configuration of a reader process. */
export interface ReaderConfig {
  /** The object store: a directory, or a spec (directory or S3 bucket). */
  store: string | StoreSpec;
  /** Local database directory. */
  dataDir: string;
  /** JSON-RPC port (0 = any free port). */
  rpcPort: number;
  /** Address to bind (default 127.0.0.1). */
  rpcHost?: string;
  /** Upstream for eth_sendRawTransaction and state the mirror cannot answer. */
  upstream?: string;
  /**
   * Writer line to follow. Absent: the one the database records ("primary" for a new one). A
   * prefix other than the recorded one switches lines (see `Replicator.switchPrefix`).
   */
  prefix?: string;
  /** Chain id; when absent, the only chain under the prefix. */
  chainId?: number;
  /** Store poll interval, in ms. */
  pollIntervalMs?: number;
  /** The bus (fs, memory or NATS); when absent, `busDir`. */
  bus?: BusSpec;
  /** Directory of the file-system bus when `bus` is absent; in-process bus when both are. */
  busDir?: string;
  maxBatch?: number;
  maxLogRange?: number;
  /**
   * Processes serving JSON-RPC (default 1). 0 or 1: this process serves, next to the replicator.
   * N ≥ 2: N worker processes (node:cluster) serve on the same port from the database opened
   * read-only, while this process applies blocks (LMDB: one writer, many readers).
   */
  workers?: number;
  /** Serve the admin methods (chainkeep_backtrack, chainkeep_switchPrefix, chainkeep_readerStatus). */
  admin?: boolean;
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

/** The RPC worker processes' entry (`rpc-worker.ts`, beside this file). */
const RPC_WORKER_ENTRY = fileURLToPath(new URL("./rpc-worker.ts", import.meta.url));

/**
 * Composition root of the reader role for one chain: the data directory's lock, store and bus,
 * local database, replicator, staged sync, and the RPC server (or RPC worker processes, `workers`
 * ≥ 2), built in this order and closed in reverse.
 */
export async function startReader(
  config: ReaderConfig,
  deps: { logger: Logger; store?: ObjectStore; bus?: Bus },
): Promise<RunningReader> {
  const logger = deps.logger.child({ module: "reader" });
  const parts = new Closers();
  return parts.guard(async () => {
    parts.add(await lockDataDir(config.dataDir));
    const io = openStoreAndBus(config, { ...deps, logger });
    parts.add(() => io.close());
    const held = await ChainDb.readInfo(config.dataDir);
    const prefix = held?.prefix ?? config.prefix ?? "primary";
    const chainId = await discoverChainId(io.store, prefix, {
      given: config.chainId ?? held?.chainId,
      logger,
    });
    const db = new ChainDb({ path: config.dataDir, chainId });
    parts.add(() => db.close());
    if (held && config.prefix !== undefined && config.prefix !== held.prefix) {
      // Started on another writer line than the database follows: switch (reset, then verify).
      const sw = db.startSwitch(config.prefix);
      logger.warn({ from: held.prefix, to: config.prefix, resetTo: sw?.height }, "switching writer line");
    }
    const openChain = (p: string) => new ChainStore(io.store, p, chainId);
    const chain = openChain(prefix);
    const replicator = new Replicator(
      { pollIntervalMs: config.pollIntervalMs, stepDelayMs: config.sync?.stepDelayMs },
      { chain, db, bus: io.bus, logger, openChain },
    );
    const syncer = new Syncer(config.sync ?? {}, {
      db,
      follower: replicator,
      checkpoint: new StoreCheckpoints(chain),
      backfill: new SegmentRanges(chain),
      prefix,
      logger: logger.child({ module: "sync" }),
    });
    parts.add(() => syncer.stop());
    parts.add(showProgress(syncer, config.progress ?? "off", { logger }));
    const registry = new Registry();
    registerReaderMetrics(registry, () => replicator.status(), syncer);
    const admin: ReaderAdmin = {
      backtrack: (height) => replicator.backtrack(height),
      switchPrefix: (p) => replicator.switchPrefix(p),
      status: async () => replicator.status(),
    };
    // Applied blocks and unwinds as block events: newHeads subscribers get the new head, logs
    // subscribers the removed logs.
    const onBlock = (emit: (e: BlockEvent) => void) => {
      replicator.on("applied", ({ height, bundle, removedLogs }) => {
        const logs = bundle.receipts.flatMap((r) => r.logs);
        emit({ height, hash: bundle.block.hash, block: bundle.block, logs, removed: removedLogs });
      });
      replicator.on("unwound", (u: Unwound) => {
        const block = db.block(u.height);
        if (block) emit({ height: u.height, hash: block.hash, block, logs: [], removed: u.removedLogs });
      });
    };
    const rpc = {
      host: config.rpcHost,
      port: config.rpcPort,
      upstream: config.upstream,
      maxBatch: config.maxBatch,
      maxLogRange: config.maxLogRange,
      admin: config.admin ?? false,
    };
    if ((config.workers ?? 1) >= 2) {
      const workerConfig: WorkerConfig = { ...rpc, dataDir: config.dataDir, chainId, logLevel: logger.level };
      const workers = new RpcWorkers(
        { count: config.workers as number, entry: RPC_WORKER_ENTRY, config: workerConfig },
        { logger, metrics: registry, admin },
      );
      onBlock((e) => workers.publish(e));
      syncer.start();
      parts.add(() => workers.close());
      const { port } = await workers.start();
      logger.info({ workers: workers.size, port }, "rpc served by worker processes");
      return { db, replicator, syncer, server: undefined, workers, port, close: () => parts.close() };
    }
    const events = new ChainEventEmitter();
    onBlock((e) => events.emitBlock(e));
    const server = new RpcServer(
      {
        host: rpc.host,
        port: rpc.port,
        upstreamUrl: rpc.upstream,
        maxBatch: rpc.maxBatch,
        maxLogRange: rpc.maxLogRange,
        adminEnabled: rpc.admin,
      },
      { view: db, events, logger, metrics: registry, admin },
    );
    syncer.start();
    const { port } = await server.start();
    parts.add(() => server.close());
    return { db, replicator, syncer, server, workers: undefined, port, close: () => parts.close() };
  });
}

/** One chain a reader process serves. */
export interface ReaderChainOptions {
  /** Chain id; when absent, the only chain under `prefix` in the store. */
  chainId?: number;
  /** A name for logs (e.g. `beacon`). */
  name?: string;
  /** Writer line prefix (default: the one the database follows, `primary` for a new one). */
  prefix?: string;
  /** Local database directory of this chain. */
  dataDir: string;
  /** JSON-RPC port of this chain (0 = any free port). */
  rpcPort: number;
  /** Where to forward eth_sendRawTransaction and state the mirror cannot answer. */
  upstream?: string;
}

/** A reader process serving one or more chains from one store and one bus. */
export interface ReaderNodeOptions {
  store: StoreSpec;
  bus: BusSpec;
  chains: ReaderChainOptions[];
  /** Address to bind (default 127.0.0.1). */
  rpcHost?: string;
  /** Store poll interval, in ms. */
  pollIntervalMs?: number;
  maxBatch?: number;
  maxLogRange?: number;
  /** RPC worker processes per chain (0 or 1: this process serves). */
  workers?: number;
  /** Serve the admin methods (`chainkeep_backtrack`, `chainkeep_switchPrefix`, `chainkeep_readerStatus`). */
  admin?: boolean;
  /** Staged sync of each chain (snapshots, segments, LIVE lag, history mode of a new database). */
  sync?: SyncerOptions;
  /** Sync progress: bars on a terminal, log lines, or nothing (default). */
  progress?: ProgressMode;
}

/** A running reader node. */
export interface RunningReaderNode {
  /** One reader per chain, in the order of `chains`. */
  readers: RunningReader[];
  close(): Promise<void>;
}

/**
 * Composition root of a reader process serving several chains: one object store and one bus
 * (one NATS connection, one subscription per chain) shared by a reader per chain, each with its
 * own database, replicator and RPC port. Closed in reverse.
 */
export async function startReaderNode(
  opts: ReaderNodeOptions,
  deps: { logger: Logger },
): Promise<RunningReaderNode> {
  const logger = deps.logger;
  const parts = new Closers();
  return parts.guard(async () => {
    const store = openStore(opts.store, { logger });
    parts.add(() => store.close());
    const bus = openBus(opts.bus, { logger });
    parts.add(() => bus.close());
    logger.info(
      { store: describeStore(opts.store), bus: describeBus(opts.bus), chains: opts.chains.length },
      "reader store and bus",
    );
    const readers: RunningReader[] = [];
    for (const c of opts.chains) {
      const chainLogger = logger.child({
        ...(c.chainId !== undefined ? { chainId: c.chainId } : {}),
        ...(c.name ? { chain: c.name } : {}),
      });
      const reader = await startReader(
        {
          store: opts.store,
          dataDir: c.dataDir,
          rpcPort: c.rpcPort,
          rpcHost: opts.rpcHost,
          upstream: c.upstream,
          prefix: c.prefix,
          chainId: c.chainId,
          pollIntervalMs: opts.pollIntervalMs,
          maxBatch: opts.maxBatch,
          maxLogRange: opts.maxLogRange,
          workers: opts.workers,
          admin: opts.admin,
          sync: opts.sync,
          progress: opts.progress,
        },
        { logger: chainLogger, store, bus },
      );
      parts.add(() => reader.close());
      readers.push(reader);
    }
    return { readers, close: () => parts.close() };
  });
}

function registerReaderMetrics(registry: Registry, status: () => ReplicatorStatus, syncer: Syncer): void {
  new Gauge({
    name: "chainkeep_reader_sync_stage",
    help: "Staged sync stage: 0 CHECKPOINT, 1 BACKFILL, 2 HEAD, 3 LIVE",
    registers: [registry],
    collect() {
      this.set(SYNC_STAGES.indexOf(syncer.current()));
    },
  });
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
    name: "chainkeep_reader_reorgs_total",
    help: "Branch switches and unwinds to a shorter chain since start",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().reorgs);
    },
  });
  new Gauge({
    name: "chainkeep_reader_switch_pending",
    help: "1 while a switch to another writer line waits for it to link, 2 while it is refused",
    registers: [registry],
    collect() {
      const sw = status().switch;
      this.set(sw === undefined ? 0 : sw.state === "waiting" ? 1 : 2);
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
