import type { ChainStore } from "../store/index.ts";
import type { Logger } from "../util/logger.ts";
import { createSnapshot, listSnapshots, retireSnapshots } from "./snapshot.ts";

/** Options of the snapshot schedule. */
export interface SnapshotScheduleOptions {
  /** Take a snapshot when the newest one is this many blocks below the finalized height. */
  everyBlocks: number;
  /** Snapshots kept; older ones are retired. */
  keep: number;
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
    const retired = await retireSnapshots(chain, this.opts.keep);
    if (retired.length) logger.info({ retired }, "old snapshots retired");
    return m.height;
  }
}
