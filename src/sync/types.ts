/**
 * What the staged sync needs, declared by it: the database it writes, the head follower it starts
 * for HEAD and LIVE, and where CHECKPOINT and BACKFILL read from. A reader's `ChainDb` and
 * `Replicator` implement the first two; the object store's snapshots and segments (`archive/`),
 * and peers (blocksync), the sources. The composition root wires them.
 */
import type {
  Bundle,
  ChainMeta,
  HeadRecord,
  SnapshotAccount,
  SnapshotChunk,
  SnapshotManifest,
  StateDump,
  VerifiedBlock,
} from "../format/index.ts";
import type { ChainInfo, HistoryMode, SyncInfo } from "../view/index.ts";

/** A block to apply, with its head record. */
export interface BlockToApply {
  bundle: Bundle;
  rec: HeadRecord;
}

/** The database the staged sync writes (a reader's `ChainDb`). */
export interface SyncDb {
  /** The chain descriptor, once the database is initialised. */
  chainInfo(): ChainInfo | undefined;
  /** The last applied block, if any. */
  progress(): { height: number } | undefined;
  /** First height held. */
  earliest(): number;
  /** The recorded sync position; undefined for a database no syncer has written. */
  syncInfo(): SyncInfo | undefined;
  /** Records the sync position (and a stage cursor) in one transaction. */
  setSyncInfo(info: SyncInfo, cursor?: { name: string; value: unknown }): void;
  /** A stage cursor written with `setSyncInfo` or `restoreChunk`. */
  cursor<T>(name: string): T | undefined;
  historyMode(): HistoryMode;
  /** Sets the history mode of a new database. */
  setHistoryMode(h: HistoryMode): void;
  /** Records the chain descriptor and the state at `earliest` (null: not exported). */
  initialise(info: ChainInfo, state: StateDump | null): void;
  /** Writes one snapshot chunk as state at `height`, with the CHECKPOINT cursor, in one transaction. */
  restoreChunk(accounts: SnapshotAccount[], height: number, cursor: unknown): void;
  /** Ends a snapshot restore: the descriptor, the snapshot's block and the sync position. */
  finishRestore(info: ChainInfo, bundle: Bundle, rec: HeadRecord, sync: SyncInfo): void;
  /**
   * Verifies (links, pre-state) and applies consecutive blocks in one transaction with the sync
   * position; blocks at or below `compactBelow` keep only each key's newest history row.
   */
  applyBlocks(blocks: BlockToApply[], opts: { compactBelow?: number; sync?: SyncInfo }): void;
}

/** What the head follower reports. */
export interface FollowerStatus {
  /** Highest head record it has seen. */
  storeHeight: number;
  /** Bundle bytes it has applied since it started. */
  bytesApplied: number;
  lastError?: string;
}

/** Follows the chain's head block by block, reorgs included (a reader's `Replicator`). */
export interface HeadFollower {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): FollowerStatus;
  /**
   * The writer's tip on the line followed: the highest committed height at or above `known`, then
   * the newest record within the reorg window below it; `known` when there is nothing there.
   */
  writerTip(known: number): Promise<number>;
}

/** Where BACKFILL reads runs of verified blocks (segments in the store; peers). */
export interface RangeSource {
  /** The highest height it can serve without a gap from `from` on; `from − 1` when none. */
  reach(from: number): Promise<number>;
  /** The verified blocks `[from, to]` in height order, in batches of at most `batch`. */
  blocks(from: number, to: number, batch: number): AsyncIterable<VerifiedBlock[]>;
}

/** Where CHECKPOINT reads the chain's start: its descriptor, initial state and snapshots. */
export interface CheckpointSource {
  /** The chain descriptor; undefined while the writer has not written it. */
  meta(): Promise<ChainMeta | undefined>;
  /** The state at `meta.fromBlock`, verified; null when the writer could not export it. */
  initialState(meta: ChainMeta): Promise<StateDump | null>;
  /** Heights of the snapshots it holds, ascending. */
  snapshots(): Promise<number[]>;
  /** A snapshot's manifest, checked. */
  manifest(height: number): Promise<SnapshotManifest>;
  /** Chunk `index` of a snapshot, verified against its manifest (BUNDLE_* when corrupt). */
  chunk(m: SnapshotManifest, index: number): Promise<SnapshotChunk>;
  /** The snapshot's block, verified against its head record. */
  block(m: SnapshotManifest): Promise<Bundle>;
}

/**
 * Recomputes a state root from snapshot chunks fed in any order (`archive/`'s `StateRootBuilder`):
 * what `--verify-state-root` checks a restored snapshot with.
 */
export interface StateRootCheck {
  add(accounts: SnapshotAccount[]): void;
  root(): string;
  close(): Promise<void>;
}
