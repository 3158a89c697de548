/** What the traffic generator sends, records and is told. */
import type { Address } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";
import type { Hex } from "../../util/hex.ts";
import type { Logger } from "../../util/logger.ts";
import type { ContractAddresses } from "./contracts.ts";

/**
 * What a transaction does or is. A transaction is listed under its content kind(s) (`transfer` …
 * `burn`) and under its envelope type (`legacy` = type 0, `eip2930` = type 1, `eip1559` = type 2).
 */
export type TxKind =
  | "transfer"
  | "legacy"
  | "eip2930"
  | "eip1559"
  | "deploy"
  | "erc20"
  | "storageWrite"
  | "storageDelete"
  | "reverted"
  | "selfDestruct"
  | "crossCall"
  | "burn";

/** Every {@link TxKind}. */
export const TX_KINDS: readonly TxKind[] = [
  "transfer",
  "legacy",
  "eip2930",
  "eip1559",
  "deploy",
  "erc20",
  "storageWrite",
  "storageDelete",
  "reverted",
  "selfDestruct",
  "crossCall",
  "burn",
];

/** A storage slot of a contract, as 32-byte DATA. */
export interface StorageSlotRef {
  address: Address;
  slot: Hex;
}

/** A transaction the generator signed and sent. */
export interface SentTx {
  hash: Hex;
  from: Address;
  nonce: number;
  /** Envelope type: 0 legacy, 1 EIP-2930, 2 EIP-1559. */
  type: 0 | 1 | 2;
  to: Address | null;
  kinds: TxKind[];
  /** True when the transaction is meant to be mined with status 0x0. */
  expectRevert: boolean;
  /** The address a contract-creating transaction creates. */
  created?: Address;
}

/** The transactions of one {@link TrafficGenerator.round}. */
export interface RoundResult {
  round: number;
  txs: SentTx[];
}

/** Everything the generator has sent so far (at send time, before inclusion). */
export interface TrafficManifest {
  contracts: ContractAddresses | undefined;
  /** Hashes by kind, in send order; a hash appears under each of its kinds. */
  txs: Record<TxKind, Hex[]>;
  /** Every address the transactions touched: senders, recipients, contracts, children, beneficiaries. */
  accounts: Address[];
  storage: {
    /** Slots written with a non-zero value (some are deleted later; see `deleted`). */
    written: StorageSlotRef[];
    /** Slots set back to zero after having been written in an earlier round. */
    deleted: StorageSlotRef[];
  };
  /** Contracts that self-destructed in their creating transaction (no code, no balance after). */
  selfDestructed: Address[];
  /** Children created by Caller with CREATE2. */
  children: Address[];
}

/** A receipt as the node returns it, untransformed. */
export interface RawReceipt {
  transactionHash: Hex;
  status: Hex;
  type: Hex;
  blockNumber: Hex;
  contractAddress: Hex | null;
  logs: { address: Hex; topics: Hex[]; data: Hex }[];
  [field: string]: unknown;
}

/** Options of the traffic generator. */
export interface TrafficOptions {
  /** HTTP JSON-RPC URL of the node the transactions go to. */
  rpcUrl: string;
  /** Chain id the transactions are signed for (EIP-155); must match the node's. */
  chainId: number;
  /** Sender keys (default {@link ANVIL_DEV_KEYS}, accounts 0..9). Account 0 deploys. */
  privateKeys?: readonly Hex[];
  /**
   * Contracts already deployed by a generator with the same keys (its approvals are reused);
   * when given, {@link TrafficGenerator.deploy} is not needed.
   */
  contracts?: ContractAddresses;
  /** Priority fee (tip) in wei (default 1 gwei). */
  priorityFeeWei?: bigint;
  /** maxFeePerGas and gasPrice are this many times the latest base fee, plus the tip (default 3). */
  baseFeeMultiplier?: number;
  /** Loop iterations of Probe.burn per round, about 100 gas each (default 500). */
  burnIterations?: number;
  /** How long a wait for inclusion may go without progress, in ms (default 60_000). */
  timeoutMs?: number;
  /** Poll interval while waiting for inclusion, in ms (default 25). */
  pollIntervalMs?: number;
  /**
   * After this long without a mined transaction, in ms, {@link TrafficGenerator.settle} mines
   * blocks with `evm_mine` if the node is an anvil in automine mode (default 300).
   */
  stallMs?: number;
}

/** What the traffic generator needs. */
export interface TrafficDeps {
  logger: Logger;
}

/** Options of {@link TrafficGenerator.run}. */
export interface RunOptions {
  /** Pause between rounds, in ms. */
  intervalMs: number;
  /** Stops the loop (after the current round). */
  signal?: AbortSignal;
  /** Stop after this many successful rounds (default: until aborted). */
  maxRounds?: number;
  /**
   * Before each round, wait until no sender has more than this many sent-but-unmined
   * transactions, so a slow node does not build an unbounded backlog (default 16).
   */
  maxLagPerSender?: number;
}

/** Options of {@link TrafficGenerator.sendBatch}. */
export interface BatchOptions {
  /** Wait until every transaction is mined (default false). */
  wait?: boolean;
  /** Transactions per HTTP request (default 5000); n ≤ chunkSize makes one request. */
  chunkSize?: number;
}

/** A sender: its key, address and nonce as tracked locally. */
export interface Sender {
  account: PrivateKeyAccount;
  address: Address;
  /** Next nonce to use; undefined until read from the node. */
  nonce: number | undefined;
  /** The last transaction the node accepted from this sender. */
  last?: { nonce: number; hash: Hex };
}

/** A transaction before signing. */
export interface Intent {
  sender: Sender;
  to: Address | null;
  data?: Hex;
  value?: bigint;
  gas: bigint;
  kinds: TxKind[];
  expectRevert?: boolean;
  /** Forces the envelope type; otherwise types rotate. */
  type?: 0 | 1 | 2;
  /** Storage keys to name in an access list for `to`. */
  slots?: Hex[];
  /** Called with the nonce, before signing (may still set `data`). */
  onNonce?: (nonce: number) => void;
  /** Called once the node accepted the transaction. */
  onSent?: (tx: SentTx) => void;
}

/** The fee fields every transaction of a round is signed with, in wei. */
export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}
