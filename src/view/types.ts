import type { AccountState, RpcBlock, RpcLog } from "../format/index.ts";
import type { Hex } from "../util/hex.ts";

/**
 * A JSON text that is served as it is: the RPC layer splices it into the response without parsing
 * or re-serialising it (blocks, transactions and receipts never change for a block hash).
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A block's header fields as the upstream returned them: the block without its transactions. */
export interface BlockHeader {
  number: Hex;
  hash: Hex;
  parentHash: Hex;
  timestamp: Hex;
  [field: string]: unknown;
}

/** A block's logs as ready-to-serve JSON: the array as UTF-8 bytes, and where each log starts. */
export interface BlockLogText {
  /** The JSON array of the block's logs, as `blockLogs` returns them, in UTF-8. */
  json: Uint8Array;
  /** Byte offset in `json` of each log's object; a log ends one byte before the next one starts. */
  starts: number[];
}

/** What log filters match on, per log of a block, lower-case. */
export interface BlockLogKeys {
  addresses: string[];
  topics: string[][];
}

/** What a reader's database records about the chain it mirrors. */
export interface ChainInfo {
  chainId: number;
  /** First height held (the writer's fromBlock, or the snapshot height a reader started from). */
  earliest: number;
  hasInitialState: boolean;
  genesisHash: Hex;
  /** The store prefix (writer line) the reader follows (changed by a switch). */
  prefix: string;
  /**
   * The chain's reorg window from its meta.json, in blocks. Every database records it when it is
   * created; absent only in databases written before it was (the replicator adds it then).
   */
  reorgMax?: number;
}

/** Applied chain tip and the upstream's safe/finalized heights recorded with it. */
export interface ChainTip {
  height: number;
  hash: Hex;
  safe: number;
  finalized: number;
}

/** The stages of a reader's staged sync (src/sync), in order. */
export const SYNC_STAGES = ["CHECKPOINT", "BACKFILL", "HEAD", "LIVE"] as const;

/** A stage of a reader's staged sync. */
export type SyncStage = (typeof SYNC_STAGES)[number];

/** Where a reader's staged sync is, as the syncer records it in the database. */
export interface SyncInfo {
  stage: SyncStage;
  /** Height the sync started from (the checkpoint). */
  startingBlock: number;
  /** Applied height (or, in CHECKPOINT, the checkpoint height). */
  currentBlock: number;
  /** Height the stage works towards. */
  highestBlock: number;
  /** The stage's progress in words, e.g. "chunk 3/12, 40.1 MB". */
  detail: string;
  /** Why the stage last failed, while it retries. */
  lastError?: string;
}

/**
 * What the RPC layer and the EVM read from a reader's local database. Every method is synchronous
 * (LMDB reads are memory-mapped) and answers for the canonical chain the reader has applied.
 */
export interface ChainView {
  readonly chainId: number;
  /** First height whose block and state the reader holds (the writer's `fromBlock`). */
  earliest(): number;
  /** The applied tip, or undefined before the first block is applied. */
  tip(): ChainTip | undefined;
  /** True when the state at `earliest()` is complete; false when the upstream could not export it. */
  hasInitialState(): boolean;
  /** Height of the canonical block with this hash, if held. */
  heightByHash(hash: Hex): number | undefined;
  /** The block as the upstream returned it (full transactions), parsed. */
  block(height: number): RpcBlock | undefined;
  /**
   * The block's header fields (no transactions), cheap to read: what the EVM and fee answers need.
   * Optional: when absent, callers take them from `block(height)`.
   */
  header?(height: number): BlockHeader | undefined;
  /** Ready-to-serve block JSON: `full` with transaction objects, otherwise with hashes. */
  blockJson(height: number, full: boolean): RawJson | undefined;
  /** Where a transaction is: height and index. */
  txLocation(hash: Hex): { height: number; index: number } | undefined;
  /** Ready-to-serve transaction JSON. */
  txJson(height: number, index: number): RawJson | undefined;
  /** Ready-to-serve receipt JSON. */
  receiptJson(height: number, index: number): RawJson | undefined;
  /** Ready-to-serve JSON array of all receipts of a block. */
  blockReceiptsJson(height: number): RawJson | undefined;
  /** The logs of a block in order, with block/tx fields, as the upstream's receipts carry them. */
  blockLogs(height: number): RpcLog[];
  /**
   * The block's logs as ready-to-serve JSON bytes. Optional, like the two methods after it; each
   * answers undefined where it cannot (the caller then uses `blockLogs`).
   */
  blockLogText?(height: number): BlockLogText | undefined;
  /** The address and topics of each log of the block, lower-case, for matching filters. */
  blockLogKeys?(height: number): BlockLogKeys | undefined;
  /**
   * The held heights in [from, to] where `address` (lower-case) emitted logs, ascending, each with
   * the indexes of those logs within their block; undefined when the index is not available.
   */
  logsByAddress?(
    address: string,
    from: number,
    to: number,
  ): Iterable<[height: number, indexes: number[]]> | undefined;
  /** The block's logsBloom, for skipping blocks in log queries. */
  logsBloom(height: number): Hex | undefined;
  /**
   * The account at the state after block `height`: `null` when it does not exist, `undefined` when
   * the reader cannot know (no initial state and never touched since) and must ask the upstream.
   */
  account(address: Hex, height: number): AccountState | null | undefined;
  /** A storage slot after block `height`; `undefined` when unknown (see `account`). */
  storage(address: Hex, slot: Hex, height: number): Hex | undefined;
  /** Contract code by code hash. */
  code(codeHash: Hex): Hex | undefined;
  /**
   * The staged sync's position; undefined or LIVE when the reader serves chain data. Optional
   * (views without staged sync always serve).
   */
  syncInfo?(): SyncInfo | undefined;
  /**
   * Lowest height whose state this view can answer (history mode `full` keeps the last N blocks);
   * below it, and at or above `earliest()`, state questions are refused. Optional (archive).
   */
  stateFrom?(): number;
  /** The history mode, for error messages. */
  historyMode?(): HistoryMode;
}

/** How much state history a reader keeps. */
export interface HistoryMode {
  mode: "archive" | "full";
  /** In `full` mode: blocks of state history kept below the tip. */
  blocks: number;
}
