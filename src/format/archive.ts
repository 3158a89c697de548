/**
 * Object-store formats of the archive tier: segments (finalized blocks packed together, era-file
 * style) and state snapshots (the full state at a finalized height, in chunks). See
 * ARCHITECTURE.md, "Segments and snapshots".
 */
import { padHeight } from "./keys.ts";
import type { Bundle, ChainMeta, HeadRecord } from "./types.ts";

/** Version of the segment and snapshot formats written by this code. */
export const ARCHIVE_VERSION = 1;

/** `segments/`: where a chain's segments live. */
export function segmentsPrefix(root: string): string {
  return `${root}segments/`;
}

/** `segments/{from}-{to}/`: one segment's objects. */
export function segmentDir(root: string, from: number, to: number): string {
  return `${root}segments/${padHeight(from)}-${padHeight(to)}/`;
}

/** Parses `segments/{from}-{to}/index.json`. */
export function parseSegmentIndexKey(root: string, key: string): { from: number; to: number } | undefined {
  const m = /^segments\/(\d{12})-(\d{12})\/index\.json$/.exec(key.slice(root.length));
  return m ? { from: Number(m[1]), to: Number(m[2]) } : undefined;
}

/** One block of a segment: its head record and where its bundle bytes are in the data object. */
export interface SegmentEntry {
  record: HeadRecord;
  /** Byte offset of the bundle in `data`. */
  offset: number;
}

/**
 * `segments/{from}-{to}/index.json`, written after `data`: its existence commits the segment.
 * `data` is the blocks' bundles as the writer committed them (each gzip JSON, so each block is
 * compressed and its head record's sha256 still holds), one after the other in height order.
 */
export interface SegmentIndex {
  version: number;
  chainId: number;
  from: number;
  to: number;
  /** Size of `data`, in bytes. */
  dataSize: number;
  /** sha256 of `data`, hex without 0x. */
  dataSha256: string;
  txs: number;
  blocks: SegmentEntry[];
}

/** `snapshots/`: where a chain's snapshots live. */
export function snapshotsPrefix(root: string): string {
  return `${root}snapshots/`;
}

/** `snapshots/{height}/`: one snapshot's objects. */
export function snapshotDir(root: string, height: number): string {
  return `${root}snapshots/${padHeight(height)}/`;
}

/** `snapshots/{height}/manifest.json`: the object that commits a snapshot. */
export function snapshotManifestKey(root: string, height: number): string {
  return `${snapshotDir(root, height)}manifest.json`;
}

/** Parses `snapshots/{height}/manifest.json`. */
export function parseSnapshotManifestKey(root: string, key: string): number | undefined {
  const m = /^snapshots\/(\d{12})\/manifest\.json$/.exec(key.slice(root.length));
  return m ? Number(m[1]) : undefined;
}

/** One account in a snapshot chunk: balance, nonce, code hash, code (when not empty), storage. */
export type SnapshotAccount = [
  address: string,
  balance: string,
  nonce: string,
  codeHash: string,
  code: string | null,
  storage: [slot: string, value: string][],
];

/** A snapshot chunk (gzip JSON): accounts in address order. */
export interface SnapshotChunk {
  version: number;
  accounts: SnapshotAccount[];
}

/** A chunk as the manifest lists it. */
export interface SnapshotChunkRef {
  key: string;
  size: number;
  sha256: string;
  accounts: number;
  slots: number;
  /** First and last address in the chunk. */
  first: string;
  last: string;
}

/**
 * `snapshots/{height}/manifest.json`, written after every chunk and the block: its existence
 * commits the snapshot. Holds what a reader needs to continue from `height`: the chain
 * descriptor, the head record of the block at `height` and a copy of its bundle.
 */
export interface SnapshotManifest {
  version: number;
  chainId: number;
  height: number;
  blockHash: string;
  /** The block's stateRoot (not recomputed from the chunks: see ARCHITECTURE.md). */
  stateRoot: string;
  createdTs: number;
  meta: ChainMeta;
  /** Head record of the block at `height`. */
  record: HeadRecord;
  /** Copy of that block's bundle bytes: key, size and sha256. */
  block: { key: string; size: number; sha256: string };
  chunks: SnapshotChunkRef[];
  totals: { accounts: number; slots: number; codes: number; bytes: number };
  /** The snapshot this one was built from (its height), or null when built from the initial state. */
  base: number | null;
}

/**
 * Whether the chain's state trie is anvil's, which departs from the Yellow Paper twice, and its
 * headers' `stateRoot` with it (both seen by recomputing roots from `anvil_dumpState` and
 * `eth_getProof`):
 * - a storage slot set back to zero stays, as a leaf holding `rlp("")` (the Yellow Paper, geth,
 *   reth and erigon delete it); `anvil_dumpState` lists such slots with value zero;
 * - a contract created and destroyed in one transaction (EIP-6780) stays, as an empty account
 *   (EIP-161 deletes it); the traces show nothing of it ({@link keptEmptyAccounts}).
 * Snapshots of an anvil chain carry such slots and accounts, so that their root is anvil's.
 */
export function anvilTrie(meta: Pick<ChainMeta, "upstreamClient">): boolean {
  return /^anvil\//i.test(meta.upstreamClient ?? "");
}

/**
 * The accounts an anvil chain keeps empty after a block (see {@link anvilTrie}): contracts a
 * transaction of the block created (its receipt's `contractAddress`) that its state diff does
 * not hold afterwards. Contracts created and destroyed inside a call are not seen here.
 */
export function keptEmptyAccounts(bundle: Bundle): string[] {
  const out: string[] = [];
  for (const r of bundle.receipts) {
    const a = typeof r.contractAddress === "string" ? r.contractAddress.toLowerCase() : undefined;
    if (!a) continue;
    const d = Object.entries(bundle.diff.accounts).find(([k]) => k.toLowerCase() === a)?.[1];
    if (!d?.post) out.push(a);
  }
  return out;
}
