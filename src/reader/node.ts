import { type BusSpec, describeBus, openBus } from "../bus/index.ts";
import { describeStore, openStore, type StoreSpec } from "../store/index.ts";
import type { ProgressMode, SyncerOptions } from "../sync/index.ts";
import type { Logger } from "../util/logger.ts";
import { type RunningReader, startReader } from "./start.ts";

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
  const store = openStore(opts.store, { logger });
  const bus = openBus(opts.bus, { logger });
  logger.info(
    { store: describeStore(opts.store), bus: describeBus(opts.bus), chains: opts.chains.length },
    "reader store and bus",
  );
  const readers: RunningReader[] = [];
  const close = async () => {
    for (const r of [...readers].reverse()) await r.close();
    await bus.close();
    await store.close();
  };
  try {
    for (const c of opts.chains) {
      const chainLogger = logger.child({
        ...(c.chainId !== undefined ? { chainId: c.chainId } : {}),
        ...(c.name ? { chain: c.name } : {}),
      });
      readers.push(
        await startReader(
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
        ),
      );
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { readers, close };
}
