/**
 * Composition root of the archive commands (`chainkeep pack`, `chainkeep snapshot …`): one writer
 * line of one chain in the store, and what an operator does with its segments and snapshots.
 */
import {
  type ArchiveCheck,
  type archivingOptions,
  createSnapshot,
  listSegments,
  listSnapshots,
  Packer,
  type PackReport,
  type packerOptions,
  readManifest,
  retireSnapshots,
  type SegmentRef,
  type snapshotOptions,
  startArchiving,
  verifyArchive,
  type verifyOptions,
} from "../archive/index.ts";
import type { SnapshotManifest } from "../format/index.ts";
import { ChainStore, onlyChainId, openStore, type StoreSpec } from "../store/index.ts";
import type { Logger } from "../util/logger.ts";
import type { OptionValues, PartialOptions } from "../util/options.ts";

/** A writer line opened for the archive commands. */
export interface ArchiveLine {
  chain: ChainStore;
  /** One packing pass (segments, then bundle retention). */
  packOnce(opts: PartialOptions<typeof packerOptions>): Promise<PackReport>;
  /** The archiving loop, until closed (`pack --watch`). */
  watch(opts: PartialOptions<typeof archivingOptions>): { close(): Promise<void> };
  /** Writes the snapshot at `height` (default: the newest finalized), then retires all but `keep`. */
  createSnapshot(
    opts: PartialOptions<typeof snapshotOptions> & { keep?: number },
  ): Promise<{ manifest: SnapshotManifest; retired: number[] }>;
  /** The snapshots' manifests and the segments, oldest first. */
  list(): Promise<{ snapshots: SnapshotManifest[]; segments: SegmentRef[] }>;
  verify(opts: OptionValues<typeof verifyOptions>): Promise<ArchiveCheck[]>;
  /** Deletes all but the newest `keep` snapshots; their heights. */
  retire(keep: number): Promise<number[]>;
  close(): Promise<void>;
}

/** Opens writer line `prefix` of chain `chainId` (default: the only chain under the prefix). */
export async function openArchiveLine(
  config: { store: StoreSpec; prefix: string; chainId?: number },
  deps: { logger: Logger },
): Promise<ArchiveLine> {
  const logger = deps.logger;
  const store = openStore(config.store, { logger });
  try {
    const chainId = config.chainId ?? (await onlyChainId(store, config.prefix));
    const chain = new ChainStore(store, config.prefix, chainId);
    return {
      chain,
      packOnce: (opts) => new Packer(opts, { chain, logger }).packOnce(),
      watch: (opts) => startArchiving(opts, { chain, logger }),
      async createSnapshot(opts) {
        const manifest = await createSnapshot(chain, opts, { logger });
        const retired = opts.keep !== undefined ? await retireSnapshots(chain, opts.keep) : [];
        return { manifest, retired };
      },
      async list() {
        const snapshots: SnapshotManifest[] = [];
        for (const s of await listSnapshots(chain)) snapshots.push(await readManifest(chain, s));
        return { snapshots, segments: await listSegments(chain) };
      },
      verify: (opts) => verifyArchive(chain, opts),
      retire: (keep) => retireSnapshots(chain, keep),
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
