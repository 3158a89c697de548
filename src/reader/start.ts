import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Counter, Gauge, Registry } from "prom-client";
import { type Bus, type BusSpec, MemoryBus, openBus } from "../bus/index.ts";
import { type BlockEvent, ChainEventEmitter, type ReaderAdmin, RpcServer } from "../rpc/index.ts";
import { ChainStore, type ObjectStore, onlyChainId, openStore, type StoreSpec } from "../store/index.ts";
import { type ProgressMode, Syncer, type SyncerOptions, showProgress } from "../sync/index.ts";
import { ChainkeepError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { ChainDb } from "./db.ts";
import { Replicator, type ReplicatorStatus, type Unwound } from "./replicator.ts";
import { RpcWorkers } from "./workers.ts";

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

/**
 * Composition root of the reader role: store, bus, local database, replicator and RPC server (or
 * RPC worker processes, `workers` ≥ 2), built in order and closed in reverse.
 */
export async function startReader(
  config: ReaderConfig,
  deps: { logger: Logger; store?: ObjectStore; bus?: Bus },
): Promise<RunningReader> {
  const logger = deps.logger.child({ module: "reader" });
  const releaseLock = await lockDataDir(config.dataDir);
  const storeSpec: StoreSpec =
    typeof config.store === "string" ? { type: "fs", dir: config.store } : config.store;
  const busSpec: BusSpec | undefined =
    config.bus ?? (config.busDir ? { type: "fs", dir: config.busDir } : undefined);
  const store = deps.store ?? openStore(storeSpec, { logger });
  const bus = deps.bus ?? (busSpec ? openBus(busSpec, { logger }) : new MemoryBus());
  const held = await ChainDb.readInfo(config.dataDir);
  let chainId = config.chainId ?? held?.chainId;
  const prefix = held?.prefix ?? config.prefix ?? "primary";
  while (chainId === undefined) {
    try {
      chainId = await onlyChainId(store, prefix);
    } catch (err) {
      // The writer may not have written meta.json yet: wait for it.
      logger.info({ err: (err as Error).message }, "waiting for a chain in the store");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const db = new ChainDb({ path: config.dataDir, chainId });
  const id = chainId;
  const openChain = (p: string) => new ChainStore(store, p, id);
  if (held && config.prefix !== undefined && config.prefix !== held.prefix) {
    // Started on another writer line than the database follows: switch (reset, then verify).
    const sw = db.startSwitch(config.prefix, held.reorgMax ?? 64);
    logger.warn({ from: held.prefix, to: config.prefix, resetTo: sw?.height }, "switching writer line");
  }
  const chain = openChain(prefix);
  const replicator = new Replicator(
    { pollIntervalMs: config.pollIntervalMs, stepDelayMs: config.sync?.stepDelayMs },
    { chain, db, bus, logger, openChain },
  );
  const syncer = new Syncer(config.sync ?? {}, {
    chain,
    db,
    replicator,
    logger: logger.child({ module: "sync" }),
  });
  const stopProgress = showProgress(syncer, config.progress ?? "off", { logger });
  const admin: ReaderAdmin = {
    backtrack: (height) => replicator.backtrack(height),
    switchPrefix: (p) => replicator.switchPrefix(p),
    status: async () => replicator.status(),
  };
  // A block event for the new tip after an unwind: newHeads subscribers get the new head, logs
  // subscribers the removed logs.
  const unwoundEvent = (u: Unwound): BlockEvent | undefined => {
    const block = db.block(u.height);
    if (!block) return undefined;
    return { height: u.height, hash: block.hash, block, logs: [], removed: u.removedLogs };
  };
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
    await releaseLock();
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
          admin: config.admin ?? false,
        },
      },
      { logger, metrics: registry, admin },
    );
    replicator.on("applied", ({ height, bundle, removedLogs }) => {
      const logs = bundle.receipts.flatMap((r) => r.logs);
      workers.publish({ height, hash: bundle.block.hash, block: bundle.block, logs, removed: removedLogs });
    });
    replicator.on("unwound", (u) => {
      const event = unwoundEvent(u);
      if (event) workers.publish(event);
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
  replicator.on("unwound", (u) => {
    const event = unwoundEvent(u);
    if (event) events.emitBlock(event);
  });
  const server = new RpcServer(
    {
      host: config.rpcHost,
      port: config.rpcPort,
      upstreamUrl: config.upstream,
      maxBatch: config.maxBatch,
      maxLogRange: config.maxLogRange,
      adminEnabled: config.admin ?? false,
    },
    { view: db, events, logger, metrics: registry, admin },
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

/**
 * Takes `{dataDir}/reader.lock` for this process (its pid inside), so that an offline operation
 * (`chainkeep reader backtrack --data-dir`) never runs beside a reader. A lock left by a process
 * that is gone (kill -9) is taken over. Resolves to the release function.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, "reader.lock");
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: "wx" });
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
    }
    const pid = Number(await readFile(file, "utf8").catch(() => ""));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new ChainkeepError("CONFIG_INVALID", `a reader (pid ${pid}) is running on ${dataDir}`, {
        dataDir,
        pid,
      });
    }
    await rm(file, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
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
