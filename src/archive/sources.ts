/**
 * The object store as a staged-sync source: its snapshots, chain descriptor and initial state
 * (CHECKPOINT), and its segments (BACKFILL). They match the interfaces `sync/` declares.
 */
import {
  type Bundle,
  type ChainMeta,
  type SnapshotChunk,
  type SnapshotManifest,
  type StateDump,
  snapshotManifestKey,
  type VerifiedBlock,
} from "../format/index.ts";
import type { ChainStore } from "../store/index.ts";
import { CommonError } from "../util/errors.ts";
import { readBlocks } from "./blocks.ts";
import { listSegments } from "./segments.ts";
import { listSnapshots, readChunk, readManifest, readSnapshotBlock } from "./snapshot.ts";

/** A writer line's descriptor, initial state and snapshots, each read verified. */
export class StoreCheckpoints {
  constructor(private readonly chain: ChainStore) {}

  meta(): Promise<ChainMeta | undefined> {
    return this.chain.readMeta();
  }

  async initialState(meta: ChainMeta): Promise<StateDump | null> {
    return meta.initialState
      ? this.chain.readInitialState(meta.initialState.key, meta.initialState.sha256)
      : null;
  }

  async snapshots(): Promise<number[]> {
    return (await listSnapshots(this.chain)).map((s) => s.height);
  }

  manifest(height: number): Promise<SnapshotManifest> {
    return readManifest(this.chain, { height, manifestKey: snapshotManifestKey(this.chain.root, height) });
  }

  chunk(m: SnapshotManifest, index: number): Promise<SnapshotChunk> {
    const ref = m.chunks[index];
    if (!ref) throw new CommonError("INTERNAL", `snapshot ${m.height} has no chunk ${index}`);
    return readChunk(this.chain, ref);
  }

  block(m: SnapshotManifest): Promise<Bundle> {
    return readSnapshotBlock(this.chain, m);
  }
}

/** A writer line's segments as runs of verified blocks (one ranged read per batch). */
export class SegmentRanges {
  constructor(private readonly chain: ChainStore) {}

  /** The end of the segments that follow on from `from` without a gap (`from − 1`: none). */
  async reach(from: number): Promise<number> {
    let target = from - 1;
    for (const s of await listSegments(this.chain)) if (s.from <= target + 1 && s.to > target) target = s.to;
    return target;
  }

  blocks(from: number, to: number, batch: number): AsyncIterable<VerifiedBlock[]> {
    return readBlocks(this.chain, from, to, { segmentsOnly: true, batch });
  }
}
