import { Packer, type PackerOptions } from "../pack/index.ts";
import type { ChainStore } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { createSnapshot, listSnapshots, retireSnapshots } from "./snapshot.ts";

/** Options of the snapshot schedule. */
export interface SnapshotScheduleOptions {
  /** Take a snapshot when the newest one is this many blocks below the finalized height. */
  everyBlocks: number;
  /** Snapshots kept; older ones are retired (default 2). */
  keep?: number;
}

/** Takes snapshots at a block interval and retires old ones (run after each packing pass). */
export class SnapshotSchedule {
  constructor(
    private readonly opts: SnapshotScheduleOptions,
    private readonly deps: { chain: ChainStore; logger: Logger },
  ) {}

  /** Takes a snapshot when due; returns its height, or undefined. */
  async maybeCreate(tip: number | undefined): Promise<number | undefined> {
    const { chain, logger } = this.deps;
    const meta = await chain.readMeta();
    if (!meta || tip === undefined || !meta.initialState) return undefined;
    const finalized = tip - meta.reorgMax;
    const all = await listSnapshots(chain);
    const newest = all[all.length - 1]?.height ?? meta.fromBlock;
    if (finalized - newest < this.opts.everyBlocks) return undefined;
    const m = await createSnapshot(chain, { height: finalized }, { logger });
    const retired = await retireSnapshots(chain, this.opts.keep ?? 2);
    if (retired.length) logger.info({ retired }, "old snapshots retired");
    return m.height;
  }
}

/** Options of {@link startArchiving}. */
export interface ArchivingOptions extends PackerOptions {
  /** Take a snapshot every this many finalized blocks (default: never). */
  snapshotEvery?: number;
  /** Snapshots kept (default 2). */
  snapshotKeep?: number;
  /** Pause between passes, in ms (default 10_000). */
  intervalMs?: number;
}

/**
 * Packs segments, applies bundle retention and takes scheduled snapshots, one pass every
 * `intervalMs`, until closed (`chainkeep pack --watch`, `chainkeep writer --pack`).
 */
export function startArchiving(
  opts: ArchivingOptions,
  deps: { chain: ChainStore; logger: Logger },
): { close(): Promise<void>; passes(): number } {
  const abort = new AbortController();
  const packer = new Packer(opts, deps);
  const schedule =
    opts.snapshotEvery !== undefined
      ? new SnapshotSchedule({ everyBlocks: opts.snapshotEvery, keep: opts.snapshotKeep }, deps)
      : undefined;
  let passes = 0;
  const loop = (async () => {
    let attempt = 0;
    while (!abort.signal.aborted) {
      try {
        const r = await packer.packOnce();
        await schedule?.maybeCreate(r.tip);
        passes++;
        attempt = 0;
        await sleep(opts.intervalMs ?? 10_000, abort.signal);
      } catch (err) {
        deps.logger.warn({ err: errorMessage(err) }, "archiving pass failed");
        await sleep(backoffMs(attempt++, 1000, 60_000), abort.signal);
      }
    }
  })();
  return {
    passes: () => passes,
    async close() {
      abort.abort();
      await loop;
    },
  };
}
