import type { VerifiedBlock } from "../format/index.ts";
import type { ChainStore } from "../store/index.ts";
import { StoreError } from "../store/index.ts";
import { canonicalHeads, listSegments, readSegmentBlocks, readSegmentIndex } from "./segments.ts";

/** Options of {@link readBlocks}. */
export interface ReadBlocksOptions {
  /** Blocks per ranged segment read (default 256). */
  batch?: number;
  /** Per-block bundles fetched in parallel where no segment covers a height (default 8). */
  concurrency?: number;
  /** Use segments only: stop at the first height no segment covers. */
  segmentsOnly?: boolean;
}

/**
 * The verified canonical blocks `[from, to]` in height order, in batches: from segments where one
 * covers the heights (one ranged read per batch), from per-block bundles elsewhere.
 */
export async function* readBlocks(
  chain: ChainStore,
  from: number,
  to: number,
  opts: ReadBlocksOptions = {},
): AsyncGenerator<VerifiedBlock[]> {
  const batch = opts.batch ?? 256;
  const segments = await listSegments(chain);
  let h = from;
  while (h <= to) {
    const seg = segments.find((s) => s.from <= h && h <= s.to);
    if (seg) {
      const idx = await readSegmentIndex(chain, seg);
      const end = Math.min(seg.to, to);
      // Read one batch ahead of the consumer.
      let next: Promise<VerifiedBlock[]> | undefined = readSegmentBlocks(
        chain,
        seg,
        idx,
        h,
        Math.min(end, h + batch - 1),
      );
      while (next) {
        const cur = next;
        const last = Math.min(end, h + batch - 1);
        h = last + 1;
        next = h <= end ? readSegmentBlocks(chain, seg, idx, h, Math.min(end, h + batch - 1)) : undefined;
        next?.catch(() => {});
        yield await cur;
      }
      continue;
    }
    if (opts.segmentsOnly) return;
    const nextSeg = segments.find((s) => s.from > h);
    const end = Math.min(to, nextSeg ? nextSeg.from - 1 : to, h + batch - 1);
    const refs = await canonicalHeads(chain, h, end);
    const conc = opts.concurrency ?? 8;
    const out: VerifiedBlock[] = [];
    for (let i = 0; i < refs.length; i += conc) {
      const part = await Promise.all(
        refs.slice(i, i + conc).map(async (ref) => {
          const record = await chain.readHead(ref);
          const bytes = await chain.store.get(record.bundleKey);
          if (!bytes) {
            throw new StoreError("STORE_NOT_FOUND", `bundle ${record.bundleKey} missing`, {
              key: record.bundleKey,
            });
          }
          return { record, bundle: await chain.verifyBundle(record, bytes), bytes };
        }),
      );
      out.push(...part);
    }
    h = end + 1;
    yield out;
  }
}
