import type { ChainStore } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { Packer, type PackerOptions } from "./packer.ts";
import { SnapshotSchedule } from "./schedule.ts";

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
