import {
  ARCHIVE_VERSION,
  BundleError,
  bundleKey,
  parseSegmentIndexKey,
  type SegmentEntry,
  type SegmentIndex,
  segmentDir,
  segmentsPrefix,
  sha256Hex,
  type VerifiedBlock,
} from "../format/index.ts";
import type { ChainStore, HeadRef } from "../store/index.ts";
import { StoreError } from "../store/index.ts";
import { CommonError } from "../util/errors.ts";
import { readArchiveDoc } from "./docs.ts";

/** A segment found in the store. */
export interface SegmentRef {
  from: number;
  to: number;
  /** Key of its index (the data object is beside it). */
  indexKey: string;
  dataKey: string;
}

/** The segments of a chain, in height order. */
export async function listSegments(chain: ChainStore): Promise<SegmentRef[]> {
  const refs = await chain.listParsed(segmentsPrefix(chain.root), (key) => {
    const p = parseSegmentIndexKey(chain.root, key);
    return p && { ...p, indexKey: key, dataKey: `${segmentDir(chain.root, p.from, p.to)}data` };
  });
  return refs.sort((a, b) => a.from - b.from);
}

/** Reads a segment's index, checking that it is the segment the key names. */
export async function readSegmentIndex(chain: ChainStore, ref: SegmentRef): Promise<SegmentIndex> {
  const { from, to } = ref;
  return readArchiveDoc<SegmentIndex>(
    chain,
    ref.indexKey,
    "segment index",
    { from, to },
    (idx) => idx.blocks.every((b, i) => b.record.height === from + i) && idx.blocks.length === to - from + 1,
  );
}

/**
 * Reads blocks `[first, last]` of a segment with one ranged read (the whole data object when
 * the store cannot read ranges) and verifies each against its head record in the index.
 */
export async function readSegmentBlocks(
  chain: ChainStore,
  ref: SegmentRef,
  idx: SegmentIndex,
  first: number,
  last: number,
): Promise<VerifiedBlock[]> {
  const a = idx.blocks[first - idx.from] as SegmentEntry;
  const z = idx.blocks[last - idx.from] as SegmentEntry;
  if (!a || !z) throw new CommonError("INTERNAL", `heights ${first}-${last} outside segment ${ref.from}`);
  const start = a.offset;
  const end = z.offset + z.record.size;
  let data: Uint8Array | undefined;
  if (chain.store.getRange) data = await chain.store.getRange(ref.dataKey, start, end - start);
  else data = (await chain.store.get(ref.dataKey))?.subarray(start, end);
  if (!data) throw new StoreError("STORE_NOT_FOUND", `segment data ${ref.dataKey} missing`);
  const out: VerifiedBlock[] = [];
  for (let h = first; h <= last; h++) {
    const e = idx.blocks[h - idx.from] as SegmentEntry;
    const bytes = data.subarray(e.offset - start, e.offset - start + e.record.size);
    out.push({ record: e.record, bundle: await chain.verifyBundle(e.record, bytes), bytes });
  }
  return out;
}

/** Checks a whole segment: the data object's size and sha256, and every block in it. */
export async function verifySegment(chain: ChainStore, ref: SegmentRef): Promise<SegmentIndex> {
  const idx = await readSegmentIndex(chain, ref);
  const data = await chain.store.get(ref.dataKey);
  if (!data) throw new StoreError("STORE_NOT_FOUND", `segment data ${ref.dataKey} missing`);
  if (data.length !== idx.dataSize || sha256Hex(data) !== idx.dataSha256) {
    throw new BundleError("BUNDLE_CHECKSUM", `segment ${ref.dataKey} checksum mismatch`, {
      key: ref.dataKey,
    });
  }
  let parent: string | undefined;
  for (const e of idx.blocks) {
    const b = await chain.verifyBundle(e.record, data.subarray(e.offset, e.offset + e.record.size));
    if (parent !== undefined && b.block.parentHash !== parent) {
      throw new BundleError(
        "BUNDLE_PARENT_MISMATCH",
        `segment ${ref.from}: block ${e.record.height} unlinked`,
      );
    }
    parent = e.record.hash;
  }
  return idx;
}

/**
 * The canonical head (latest writeTs) at every height of `[from, to]`, in order; fails when a
 * height has none.
 */
export async function canonicalHeads(chain: ChainStore, from: number, to: number): Promise<HeadRef[]> {
  const byHeight = new Map<number, HeadRef>();
  let h = from;
  while (h <= to) {
    const refs = await chain.listHeads(h, 2000);
    if (refs.length === 0) break;
    const lastListed = (refs[refs.length - 1] as HeadRef).height;
    for (const r of refs) if (r.height <= to) byHeight.set(r.height, r);
    // The last listed height may be cut: list it again next time, unless nothing else came.
    const next = refs.length === 2000 && lastListed > h ? lastListed : lastListed + 1;
    h = next;
  }
  const out: HeadRef[] = [];
  for (let x = from; x <= to; x++) {
    const r = byHeight.get(x);
    if (!r) throw new StoreError("STORE_NOT_FOUND", `no head record at ${x}`, { height: x });
    out.push(r);
  }
  return out;
}

/** Runs `fn` over `items` with at most `n` at a time, keeping order of results. */
export async function mapLimit<T, R>(
  items: T[],
  n: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, run));
  return out;
}

/**
 * Packs canonical blocks `[from, to]` into one segment: reads and verifies each bundle, checks
 * that they link, writes the data object, then the index (which commits the segment).
 */
export async function writeSegment(
  chain: ChainStore,
  from: number,
  to: number,
  opts: { concurrency?: number; parentHash?: string } = {},
): Promise<SegmentIndex> {
  const refs = await canonicalHeads(chain, from, to);
  const parts = await mapLimit(refs, opts.concurrency ?? 16, async (ref) => {
    const record = await chain.readHead(ref);
    const data = await chain.store.get(record.bundleKey);
    if (!data) throw new StoreError("STORE_NOT_FOUND", `bundle ${record.bundleKey} missing`);
    const bundle = await chain.verifyBundle(record, data);
    return { record, data, txs: bundle.block.transactions.length };
  });
  let parent = opts.parentHash;
  let offset = 0;
  let txs = 0;
  const blocks: SegmentEntry[] = [];
  for (const p of parts) {
    if (parent !== undefined && p.record.parentHash !== parent) {
      throw new BundleError("BUNDLE_PARENT_MISMATCH", `block ${p.record.height} does not link`, {
        height: p.record.height,
      });
    }
    parent = p.record.hash;
    blocks.push({ record: p.record, offset });
    offset += p.data.length;
    txs += p.txs;
  }
  const data = Buffer.concat(parts.map((p) => p.data));
  const dir = segmentDir(chain.root, from, to);
  const idx: SegmentIndex = {
    version: ARCHIVE_VERSION,
    chainId: chain.chainId,
    from,
    to,
    dataSize: data.length,
    dataSha256: sha256Hex(data),
    txs,
    blocks,
  };
  await chain.store.put(`${dir}data`, data);
  await chain.store.put(`${dir}index.json`, Buffer.from(JSON.stringify(idx)));
  return idx;
}

/** Deletes the per-block bundles of heights `[from, to]` (every writeTs); head records stay. */
export async function deleteBundles(chain: ChainStore, from: number, to: number): Promise<number> {
  let n = 0;
  let h = from;
  while (h <= to) {
    const refs = await chain.listHeads(h, 1000);
    const inRange = refs.filter((r) => r.height <= to);
    await mapLimit(inRange, 16, (r) =>
      chain.store.delete(bundleKey(chain.root, r.height, r.writeTs, r.hash)),
    );
    n += inRange.length;
    const last = refs[refs.length - 1];
    if (!last || inRange.length < refs.length || refs.length < 1000) break;
    h = last.height === h ? h + 1 : last.height;
  }
  return n;
}
