import { fileURLToPath } from "node:url";
import { Counter, Gauge, Registry } from "prom-client";
import { SegmentRanges, StateRootBuilder, StoreCheckpoints } from "../archive/index.ts";
import type { Bus, BusSpec } from "../bus/index.ts";
import { type READER_CHAIN_KEYS, readerRole, writerRole } from "../config/index.ts";
import { anvilTrie } from "../format/index.ts";
import { ChainDb, lockDataDir, Replicator, type ReplicatorStatus, type Unwound } from "../reader/index.ts";
import {
  type BlockEvent,
  ChainEventEmitter,
  type ReaderAdmin,
  RpcServer,
  type RpcServerDeps,
  RpcWorkers,
  rpcOptions,
  type WorkerConfig,
} from "../rpc/index.ts";
import { ChainStore, type ObjectStore, type StoreSpec } from "../store/index.ts";
import { Syncer, showProgress } from "../sync/index.ts";
import type { Logger } from "../util/logger.ts";
import { withDefaults } from "../util/options.ts";
import { SYNC_STAGES } from "../view/index.ts";
import { Closers, discoverChainId, openStoreAndBus, type RoleConfig, withoutStoreAndBus } from "./shared.ts";

/**
 * Configuration of a reader of one chain: the reader role's settings (`readerRole`). A `prefix`
 * other than the one the database records switches lines (see `Replicator.switchPrefix`); without
 * one the reader follows the recorded line (`primary` for a new database). Without `chainId`, the
 * only chain under the prefix. `workers` ≥ 2: that many processes (node:cluster) serve JSON-RPC on
 * the port from the database opened read-only while this one applies blocks; 0 or 1: this process
 * serves.
 */
export type ReaderConfig = RoleConfig<typeof readerRole> & { dataDir: string };

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
  /** The reader's metrics (served at /metrics). */
  registry: Registry;
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
  deps: {
    logger: Logger;
    store?: ObjectStore;
    bus?: Bus;
    /** More GET routes on the RPC port (an archiver's); the reader then serves from this process. */
    routes?: RpcServerDeps["routes"];
  },
): Promise<RunningReader> {
  const logger = deps.logger.child({ module: "reader" });
  const s = withDefaults(withoutStoreAndBus(readerRole), config);
  const dataDir = config.dataDir;
  const parts = new Closers();
  return parts.guard(async () => {
    parts.add(await lockDataDir(dataDir));
    const io = openStoreAndBus(config, { ...deps, logger });
    parts.add(() => io.close());
    const held = await ChainDb.readInfo(dataDir);
    // A new database follows the writer's default line.
    const prefix = held?.prefix ?? s.prefix ?? writerRole.prefix.default;
    const chainId = await discoverChainId(io.store, prefix, { given: s.chainId ?? held?.chainId, logger });
    const db = new ChainDb({ path: dataDir, chainId });
    parts.add(() => db.close());
    if (held && s.prefix !== undefined && s.prefix !== held.prefix) {
      // Started on another writer line than the database follows: switch (reset, then verify).
      const sw = db.startSwitch(s.prefix);
      logger.warn({ from: held.prefix, to: s.prefix, resetTo: sw?.height }, "switching writer line");
    }
    const openChain = (p: string) => new ChainStore(io.store, p, chainId);
    const chain = openChain(prefix);
    const replicator = new Replicator(
      { ...s, stepDelayMs: s.syncStepDelay },
      { chain, db, bus: io.bus, logger, openChain },
    );
    const syncer = new Syncer(s, {
      db,
      follower: replicator,
      checkpoint: new StoreCheckpoints(chain),
      backfill: new SegmentRanges(chain),
      prefix,
      logger: logger.child({ module: "sync" }),
      stateRoot: (meta) => StateRootBuilder.open(undefined, { keepZeroSlots: anvilTrie(meta) }),
    });
    parts.add(() => syncer.stop());
    parts.add(showProgress(syncer, s.progress, { logger }));
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
    if (s.workers >= 2 && !deps.routes) {
      const workerConfig: WorkerConfig = {
        rpc: withDefaults(rpcOptions, s),
        dataDir,
        chainId,
        logLevel: logger.level,
      };
      const workers = new RpcWorkers(
        { count: s.workers, entry: RPC_WORKER_ENTRY, config: workerConfig },
        { logger, metrics: registry, admin },
      );
      onBlock((e) => workers.publish(e));
      syncer.start();
      parts.add(() => workers.close());
      const { port } = await workers.start();
      logger.info({ workers: workers.size, port }, "rpc served by worker processes");
      return {
        db,
        replicator,
        syncer,
        server: undefined,
        workers,
        port,
        registry,
        close: () => parts.close(),
      };
    }
    const events = new ChainEventEmitter();
    onBlock((e) => events.emitBlock(e));
    const server = new RpcServer(s, {
      view: db,
      events,
      logger,
      metrics: registry,
      admin,
      routes: deps.routes,
    });
    syncer.start();
    const { port } = await server.start();
    parts.add(() => server.close());
    return { db, replicator, syncer, server, workers: undefined, port, registry, close: () => parts.close() };
  });
}

/** One chain a reader process serves: its database, port, forwarding URL, line and chain id. */
export type ReaderChainOptions = Pick<ReaderConfig, (typeof READER_CHAIN_KEYS)[number]> & {
  dataDir: string;
  rpcPort: number;
  /** A name for logs (e.g. `beacon`). */
  name?: string;
};

/** A reader process serving one or more chains from one store and one bus. */
export type ReaderNodeOptions = Omit<ReaderConfig, (typeof READER_CHAIN_KEYS)[number] | "store" | "bus"> & {
  store: StoreSpec;
  bus: BusSpec;
  chains: ReaderChainOptions[];
};

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
    // One store client and one bus (one NATS connection) for every chain.
    const { store, bus, close } = openStoreAndBus(opts, { logger, log: { chains: opts.chains.length } });
    parts.add(close);
    const readers: RunningReader[] = [];
    for (const c of opts.chains) {
      const chainLogger = logger.child({
        ...(c.chainId !== undefined ? { chainId: c.chainId } : {}),
        ...(c.name ? { chain: c.name } : {}),
      });
      const reader = await startReader(
        { ...opts, ...c, store: opts.store, bus: opts.bus },
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
