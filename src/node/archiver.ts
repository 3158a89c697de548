import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { Gauge } from "prom-client";
import {
  ArchiveKeeper,
  ArchiverSnapshots,
  type KeeperStatus,
  listSnapshots,
  parseSnapshotEvery,
} from "../archive/index.ts";
import type { archiverRole } from "../config/index.ts";
import { ChainStore, FsStore, type ServedChain, serveObjects } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { CommonError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import type { OptionValues } from "../util/options.ts";
import { type ReaderNodeOptions, type RunningReader, startReader } from "./reader.ts";
import { Closers, openStoreAndBus } from "./shared.ts";

/** An archiver process: a reader node's options and the archiver's own (`archiverRole`). */
export type ArchiverNodeOptions = ReaderNodeOptions &
  Pick<
    OptionValues<typeof archiverRole>,
    | "snapshotEvery"
    | "snapshotKeep"
    | "snapshotChunkEntries"
    | "keepInterval"
    | "recoveryToken"
    | "recoveryTokenFile"
  >;

/** One chain an archiver keeps. */
export interface ArchivedChain {
  reader: RunningReader;
  keeper: ArchiveKeeper;
  local: ChainStore;
  status(): ArchivedChainStatus;
}

/** What `/status` says of a chain. */
export interface ArchivedChainStatus extends KeeperStatus {
  chainId: number;
  prefix: string;
  /** Applied height of the archive database (state at every height up to it). */
  height: number;
  stage: string;
  snapshotsLocal: number;
}

/** A running archiver. */
export interface RunningArchiver {
  chains: ArchivedChain[];
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * Composition root of the archiver role: per chain, a reader in archive history mode synced from
 * the chain's start (state at every height, served as JSON-RPC; never restored from a snapshot), an `ArchiveKeeper` copying the store's objects for the chain
 * into `{dataDir}/archive` (fsynced), and the scheduled snapshots built from that copy and
 * uploaded; on every chain's port, `/status` and the read-only recovery API (`/recovery/v1/`,
 * every chain of the process; a bearer token required off loopback). Closed in reverse.
 */
export async function startArchiverNode(
  opts: ArchiverNodeOptions,
  deps: { logger: Logger },
): Promise<RunningArchiver> {
  const { logger } = deps;
  const token =
    opts.recoveryToken ??
    (opts.recoveryTokenFile ? (await readFile(opts.recoveryTokenFile, "utf8")).trim() : undefined);
  const host = opts.rpcHost ?? "127.0.0.1";
  if (!LOOPBACK.has(host) && !token) {
    throw new CommonError(
      "CONFIG_INVALID",
      `the recovery API listens on ${host}: give --recovery-token or --recovery-token-file`,
    );
  }
  const every = parseSnapshotEvery(opts.snapshotEvery ?? "24h");
  if ((opts.workers ?? 0) >= 2)
    logger.debug({ workers: opts.workers }, "an archiver serves from one process");
  const parts = new Closers();
  return parts.guard(async () => {
    // One store client and one bus for every chain.
    const { store, bus, close } = openStoreAndBus(opts, {
      logger,
      log: { chains: opts.chains.length, every },
    });
    parts.add(close);
    const chains: ArchivedChain[] = [];
    const served: ServedChain[] = [];
    const recovery = serveObjects(() => served, { token });
    const routes = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
      if ((req.url ?? "").split("?")[0] === "/status") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ role: "archiver", chains: chains.map((c) => c.status()) }));
        return true;
      }
      return recovery(req, res);
    };
    for (const c of opts.chains) {
      const chainLogger = logger.child({
        ...(c.chainId !== undefined ? { chainId: c.chainId } : {}),
        ...(c.name ? { chain: c.name } : {}),
      });
      const reader = await startReader(
        // State at every height: from the chain's start, never from a snapshot.
        { ...opts, ...c, history: "archive", snapshots: false, workers: 1, store: opts.store, bus: opts.bus },
        { logger: chainLogger, store, bus, routes },
      );
      parts.add(() => reader.close());
      const chainId = reader.db.chainId;
      const prefix = reader.db.chainInfo()?.prefix ?? c.prefix ?? "primary";
      const local = new ChainStore(new FsStore({ dir: join(c.dataDir, "archive") }), prefix, chainId);
      const remote = new ChainStore(store, prefix, chainId);
      const keeper = new ArchiveKeeper(
        { interval: opts.keepInterval ?? 1000 },
        { remote, local, logger: chainLogger },
      );
      keeper.start();
      parts.add(() => keeper.stop());
      const snapshots = new ArchiverSnapshots(
        { every, keep: opts.snapshotKeep ?? 2, chunkEntries: opts.snapshotChunkEntries },
        { local, remote, logger: chainLogger, state: reader.db },
      );
      parts.add(runSnapshots(snapshots, opts.keepInterval ?? 1000, chainLogger));
      let snapshotsLocal = 0;
      const status = (): ArchivedChainStatus => ({
        chainId,
        prefix,
        ...keeper.status(),
        height: reader.db.tip()?.height ?? -1,
        stage: reader.syncer.current(),
        snapshotsLocal,
      });
      const refreshSnapshots = setInterval(() => {
        listSnapshots(local).then(
          (s) => {
            snapshotsLocal = s.length;
          },
          () => {},
        );
      }, 2000);
      parts.add(() => clearInterval(refreshSnapshots));
      new Gauge({
        name: "chainkeep_archiver_durable_height",
        help: "Highest height whose block data, and every height's below it, is flushed to the local copy",
        registers: [reader.registry],
        collect() {
          this.set(keeper.status().durableHeight);
        },
      });
      new Gauge({
        name: "chainkeep_archiver_objects_copied_total",
        help: "Objects copied from the store into the local copy since start",
        registers: [reader.registry],
        collect() {
          this.set(keeper.status().objects);
        },
      });
      served.push({
        chainId,
        prefix,
        root: local.root,
        store: local.store,
        describe: () => ({ ...keeper.status() }),
      });
      chains.push({ reader, keeper, local, status });
    }
    return { chains, close: () => parts.close() };
  });
}

/** Runs the snapshot schedule until closed: one check per `interval`, backoff on errors. */
function runSnapshots(s: ArchiverSnapshots, interval: number, logger: Logger): () => Promise<void> {
  const abort = new AbortController();
  const loop = (async () => {
    let attempt = 0;
    while (!abort.signal.aborted) {
      try {
        await s.maybeSnapshot();
        attempt = 0;
        await sleep(Math.max(interval, 1000), abort.signal);
      } catch (err) {
        if (abort.signal.aborted) return;
        logger.warn({ err: errorMessage(err) }, "archiver snapshot failed");
        await sleep(backoffMs(attempt++, 1000, 60_000), abort.signal);
      }
    }
  })();
  return async () => {
    abort.abort();
    await loop;
  };
}
