import type { Hex } from "../util/hex.ts";

/** keccak256 of empty code: the code hash of an account without code. */
export const EMPTY_CODE_HASH: Hex = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";

/** A zero 32-byte storage word (a slot that holds nothing). */
export const ZERO_WORD: Hex = `0x${"0".repeat(64)}`;

/** Version of the bundle, head-record and meta formats written by this code. */
export const FORMAT_VERSION = 1;

/** A block as the upstream returns it from `eth_getBlockByNumber(n, true)`, kept verbatim. */
export interface RpcBlock {
  number: Hex;
  hash: Hex;
  parentHash: Hex;
  timestamp: Hex;
  transactions: RpcTransaction[];
  [field: string]: unknown;
}

/** A transaction object as the upstream returns it, kept verbatim. */
export interface RpcTransaction {
  hash: Hex;
  [field: string]: unknown;
}

/** A log object as the upstream returns it inside receipts. */
export interface RpcLog {
  address: Hex;
  topics: Hex[];
  data: Hex;
  logIndex: Hex;
  [field: string]: unknown;
}

/** A receipt as the upstream returns it, kept verbatim. */
export interface RpcReceipt {
  transactionHash: Hex;
  logs: RpcLog[];
  [field: string]: unknown;
}

/** The fields of an account that the state mirror keeps; `code` is referenced by hash. */
export interface AccountState {
  /** QUANTITY. */
  balance: Hex;
  /** QUANTITY. */
  nonce: Hex;
  /** keccak256 of the code (the empty-code hash for EOAs). */
  codeHash: Hex;
}

/**
 * The state diff of one block, with pre- and post-values, enough both to apply the block and to
 * unwind it. `null` means "the account did not exist" (pre) or "was destroyed / does not exist"
 * (post).
 */
export interface StateDiff {
  accounts: Record<Hex, { pre: AccountState | null; post: AccountState | null }>;
  /** Per address, per slot: [pre, post] as 32-byte DATA. */
  storage: Record<Hex, Record<Hex, [Hex, Hex]>>;
  /** Code by hash, for every code hash that appears in a post-state. */
  codes: Record<Hex, Hex>;
}

/** Everything needed to serve one block and to unwind it. Stored compressed under `blocks/`. */
export interface Bundle {
  version: number;
  chainId: number;
  block: RpcBlock;
  receipts: RpcReceipt[];
  diff: StateDiff;
}

/** A head record: its existence commits a block. Stored under `heads/`. */
export interface HeadRecord {
  version: number;
  chainId: number;
  height: number;
  hash: Hex;
  parentHash: Hex;
  /** Writer clock in ms, strictly increasing per writer. */
  writeTs: number;
  bundleKey: string;
  /** Size of the compressed bundle, in bytes. */
  size: number;
  /** sha256 of the compressed bundle bytes, hex without 0x. */
  sha256: string;
  /** The upstream's `safe` height when this block was committed. */
  safe: number;
  /** The upstream's `finalized` height when this block was committed. */
  finalized: number;
}

/** The full state of the chain at one height, as a list of accounts. */
export interface StateDump {
  height: number;
  blockHash: Hex;
  accounts: Record<Hex, { balance: Hex; nonce: Hex; code: Hex; storage: Record<Hex, Hex> }>;
}

/** Chain descriptor at `meta.json`. */
/**
 * The reorg window of a chain whose writer is not given one, in blocks (`ChainMeta.reorgMax`):
 * the one default, which readers also assume for a database that predates recording it.
 */
export const DEFAULT_REORG_MAX = 64;

export interface ChainMeta {
  version: number;
  chainId: number;
  genesisHash: Hex;
  /** Blocks deeper than head − reorgMax are final. */
  reorgMax: number;
  /** First height the writer committed. */
  fromBlock: number;
  /** Where the full state at `fromBlock` is, or null when the upstream could not export it. */
  initialState: { key: string; sha256: string; height: number; method: string } | null;
  /** The upstream's `web3_clientVersion`, for operators. */
  upstreamClient: string;
}

/**
 * A committed block read back and verified against its head record (size, sha256, hash, roots):
 * the bundle, the record, and the bundle's bytes exactly as committed.
 */
export interface VerifiedBlock {
  record: HeadRecord;
  bundle: Bundle;
  bytes: Uint8Array;
}
