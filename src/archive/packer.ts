import { segmentsPrefix } from "../format/index.ts";
import type { ChainStore } from "../store/index.ts";
import type { Logger } from "../util/logger.ts";
import { type OptionValues, type PartialOptions, withDefaults } from "../util/options.ts";
import { packerOptions } from "./options.ts";
import { deleteBundles, listSegments, readSegmentIndex, writeSegment } from "./segments.ts";

/** What one packing pass did. */
export interface PackReport {
  /** Segments written, as [from, to]. */
  written: [number, number][];
  /** Bundles deleted by retention. */
  deleted: number;
  /** Store tip seen. */
  tip: number | undefined;
}

/**
 * Packs finalized blocks (deeper than the chain's reorgMax below the store tip) into segments of
 * `segmentBlocks` blocks, aligned to multiples of it (the first one starts at the chain's
 * fromBlock), then applies the bundle retention rule. Safe to run next to the writer and to
 * restart at any point: a segment exists once its index is written.
 */
export class Packer {
  constructor(
    opts: PartialOptions<typeof packerOptions>,
    private readonly deps: { chain: ChainStore; logger: Logger },
  ) {
    this.opts = withDefaults(packerOptions, opts);
  }

  private readonly opts: OptionValues<typeof packerOptions>;

  async packOnce(): Promise<PackReport> {
    const { chain, logger } = this.deps;
    const report: PackReport = { written: [], deleted: 0, tip: undefined };
    const meta = await chain.readMeta();
    if (!meta) return report;
    const tip = await chain.lastHeight(meta.fromBlock);
    report.tip = tip;
    if (tip === undefined) return report;
    const size = Math.max(1, this.opts.segmentBlocks);
    const finalized = tip - meta.reorgMax;
    const segments = await listSegments(chain);
    const lastSeg = segments[segments.length - 1];
    let parentHash: string | undefined;
    if (lastSeg) {
      const idx = await readSegmentIndex(chain, lastSeg);
      parentHash = idx.blocks[idx.blocks.length - 1]?.record.hash;
    }
    let from = lastSeg ? lastSeg.to + 1 : meta.fromBlock;
    for (;;) {
      const to = (Math.floor(from / size) + 1) * size - 1;
      if (to > finalized) break;
      const started = Date.now();
      const idx = await writeSegment(chain, from, to, { parentHash });
      parentHash = idx.blocks[idx.blocks.length - 1]?.record.hash;
      logger.info(
        { from, to, bytes: idx.dataSize, txs: idx.txs, ms: Date.now() - started },
        "segment written",
      );
      report.written.push([from, to]);
      from = to + 1;
    }
    const packedTo = from - 1;
    if (this.opts.retainBlocks !== undefined && packedTo >= meta.fromBlock) {
      const until = Math.min(packedTo, tip - this.opts.retainBlocks);
      const markKey = `${segmentsPrefix(chain.root)}retention.json`;
      const prunedTo =
        (await chain.findJson<{ prunedTo: number }>(markKey, "retention mark"))?.prunedTo ?? -1;
      if (until > prunedTo) {
        report.deleted = await deleteBundles(chain, Math.max(meta.fromBlock, prunedTo + 1), until);
        await chain.store.put(markKey, Buffer.from(JSON.stringify({ prunedTo: until })));
        logger.info(
          { from: prunedTo + 1, to: until, deleted: report.deleted },
          "bundles deleted by retention",
        );
      }
    }
    return report;
  }
}
