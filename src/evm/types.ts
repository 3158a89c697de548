import type { AccountState, RpcBlock } from "../format/index.ts";
import type { Hex } from "../util/hex.ts";
import type { BlockHeader } from "../view/index.ts";

/** A value or a promise of it: a source may answer synchronously (LMDB) or not (JSON-RPC). */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What the EVM reads to execute a call on the post-state of a block. A reader's `ChainView`
 * satisfies it. Every method answers `undefined` when it does not know, which makes the call fail
 * with `STATE_UNAVAILABLE` (the RPC layer then forwards the request upstream).
 */
export interface EvmStateSource {
  readonly chainId: number;
  /**
   * The block at `height` as the upstream returned it. Its header gives the execution environment
   * (`number`, `timestamp`, `miner`, `baseFeePerGas`, `mixHash`, `gasLimit`, `excessBlobGas`) and
   * its `hash` answers `BLOCKHASH` from later blocks.
   */
  block(height: number): MaybePromise<RpcBlock | undefined>;
  /**
   * The header fields of the block at `height`; when present, used instead of `block` (a source
   * that stores headers apart answers without parsing the transactions).
   */
  header?(height: number): MaybePromise<BlockHeader | undefined>;
  /** The account after block `height`: `null` when it does not exist, `undefined` when unknown. */
  account(address: Hex, height: number): MaybePromise<AccountState | null | undefined>;
  /** A storage slot (32-byte key) after block `height`, as 32-byte DATA; `undefined` when unknown. */
  storage(address: Hex, slot: Hex, height: number): MaybePromise<Hex | undefined>;
  /** Contract code by its keccak256 hash. */
  code(codeHash: Hex): MaybePromise<Hex | undefined>;
  /** The hash of block `height`, for BLOCKHASH; when absent, `block(height).hash` is used. */
  blockHash?(height: number): MaybePromise<Hex | undefined>;
}

/** One entry of an EIP-2930 access list. */
export interface AccessListEntry {
  address: Hex;
  storageKeys: Hex[];
}

/**
 * The transaction object of `eth_call` / `eth_estimateGas`
 * (https://ethereum.github.io/execution-apis/api-documentation/), with QUANTITY and DATA fields
 * as hex strings. Fields this module cannot execute (`blobVersionedHashes`, `authorizationList`)
 * make it throw `EVM_UNSUPPORTED`.
 */
export interface CallRequest {
  from?: Hex;
  /** Absent or null: contract creation with `input` as init code. */
  to?: Hex | null;
  gas?: Hex;
  gasPrice?: Hex;
  maxFeePerGas?: Hex;
  maxPriorityFeePerGas?: Hex;
  maxFeePerBlobGas?: Hex;
  value?: Hex;
  /** Preferred over `data` when both are present. */
  input?: Hex;
  data?: Hex;
  /** Accepted and ignored, as anvil does (nonce checks are off for calls). */
  nonce?: Hex;
  accessList?: AccessListEntry[];
  type?: Hex;
  chainId?: Hex;
  blobVersionedHashes?: Hex[];
  authorizationList?: unknown[];
}

/** Options of {@link ethCall} and {@link estimateGas}. */
export interface CallOptions {
  /**
   * Upper bound of the gas a call may use, in gas. Anvil has no cap; with one, a request asking for
   * more (or the block gas limit by default) runs with the cap, so answers differ from anvil only
   * when execution needs more than the cap. Protects the reader from endless loops.
   */
  gasCap?: bigint;
  /**
   * Replaces fields of the block environment, e.g. to emulate anvil's `pending` block (which
   * anvil uses for `eth_estimateGas` without a block parameter): number + 1 and the next base fee.
   */
  env?: Partial<BlockEnv>;
}

/** The block environment the EVM sees (NUMBER, TIMESTAMP, COINBASE, BASEFEE, PREVRANDAO…). */
export interface BlockEnv {
  number: bigint;
  timestamp: bigint;
  coinbase: Hex;
  /** In wei. */
  baseFeePerGas: bigint;
  /** PREVRANDAO: the header's `mixHash`. */
  prevRandao: Hex;
  /** In gas. */
  gasLimit: bigint;
  difficulty: bigint;
  excessBlobGas: bigint;
}
