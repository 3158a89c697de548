import type { ChainStore } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { type PartialOptions, withDefaults } from "../util/options.ts";
import { archivingOptions } from "./options.ts";
import { Packer } from "./packer.ts";
import { SnapshotSchedule } from "./schedule.ts";

/**
 * Packs segments, applies bundle retention and takes scheduled snapshots, one pass every
 * `packInterval` ms, until closed (`chainkeep pack --watch`, `chainkeep writer --pack`).
 */
export function startArchiving(
  given: PartialOptions<typeof archivingOptions>,
  deps: { chain: ChainStore; logger: Logger },
): { close(): Promise<void>; passes(): number } {
  const opts = withDefaults(archivingOptions, given);
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
        await sleep(opts.packInterval, abort.signal);
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
