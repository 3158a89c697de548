/**
 * Fee answers computed from the applied blocks, the way anvil computes them, so that a reader
 * answers eth_gasPrice, eth_maxPriorityFeePerGas and eth_feeHistory exactly as its upstream:
 * next base fee per EIP-1559, blob base fee per EIP-4844/7918, and rewards per percentile of the
 * gas used, sorted by effective tip.
 */

import type { RpcBlock } from "../format/index.ts";
import {
  type BlobParams,
  BPO1_BLOBS,
  big,
  blobBaseFeeOf,
  GAS_PER_BLOB,
  nextBaseFee,
  nextExcessBlobGas,
} from "../format/index.ts";
import { CommonError } from "../util/errors.ts";
import type { BlockHeader, ChainView } from "../view/index.ts";

export { type BlobParams, BPO1_BLOBS, nextBaseFee };

/** The smallest tip anvil suggests (MIN_SUGGESTED_PRIORITY_FEE), in wei: 1 gwei. */
export const MIN_SUGGESTED_PRIORITY_FEE = 1_000_000_000n;

/** Base fee per blob gas for a header's excess blob gas, or undefined before Cancun. */
export function blobBaseFee(block: BlockHeader, p: BlobParams): bigint | undefined {
  const excess = big(block.excessBlobGas);
  return excess === undefined ? undefined : blobBaseFeeOf(excess, p);
}

/** The base fee per blob gas of the block after `block` (EIP-4844, with EIP-7918's reserve price). */
export function nextBlobBaseFee(block: BlockHeader, p: BlobParams): bigint {
  const excess = big(block.excessBlobGas);
  if (excess === undefined) return 0n;
  const next = nextExcessBlobGas(excess, big(block.blobGasUsed) ?? 0n, big(block.baseFeePerGas) ?? 0n, p);
  return blobBaseFeeOf(next, p);
}

/** What eth_feeHistory reports about one block. */
export interface BlockFees {
  hash: string;
  baseFee: bigint;
  /** Undefined before Cancun (reported as 0). */
  blobBaseFee: bigint | undefined;
  gasUsedRatio: number;
  blobGasUsedRatio: number;
  /** Block gas used, as a float (anvil computes percentile targets in f64). */
  gasUsed: number;
  /** Per transaction: gas used and effective tip, sorted by tip ascending (stable). */
  txs: { gasUsed: bigint; tip: bigint }[];
}

// The tip a transaction pays per gas above `baseFee` (alloy's effective_tip_per_gas; 0 when none).
function effectiveTip(tx: Record<string, unknown>, baseFee: bigint): bigint {
  const maxFee = big(tx.maxFeePerGas);
  if (maxFee !== undefined) {
    if (maxFee < baseFee) return 0n;
    const prio = big(tx.maxPriorityFeePerGas) ?? 0n;
    const room = maxFee - baseFee;
    return prio < room ? prio : room;
  }
  const gasPrice = big(tx.gasPrice);
  if (gasPrice === undefined || gasPrice < baseFee) return 0n;
  return gasPrice - baseFee;
}

/**
 * The reward at `percentile` of a block (anvil: percentiles clamped to [0, 100] and rounded to
 * whole numbers; the first transaction, by ascending tip, whose cumulative gas reaches the target).
 */
export function rewardAt(fees: BlockFees, percentile: number): bigint {
  const q = Math.round(Math.min(100, Math.max(0, percentile)));
  const target = BigInt(Math.trunc((q * fees.gasUsed) / 100));
  let cumulative = 0n;
  for (const tx of fees.txs) {
    cumulative += tx.gasUsed;
    if (target <= cumulative) return tx.tip;
  }
  return 0n;
}

/** What the next block's fees will be, as anvil predicts them after the head. */
export interface HeadFees {
  /** The head's hash (the cache key). */
  hash: string;
  /** False before London: the head has no base fee. */
  london: boolean;
  nextBaseFee: bigint;
  nextBlobBaseFee: bigint;
  suggestedTip: bigint;
}

/** Options of the fee oracle. */
export interface FeeOracleOptions {
  /** Blocks whose fee data are kept, in blocks (anvil's fee history holds 2048). */
  cacheBlocks?: number;
  blobParams?: BlobParams;
}

/**
 * Fee data per block, computed on first use from the block and its receipts and cached by height
 * together with the block hash (a cached entry is used only while its block is still canonical).
 */
export class FeeOracle {
  private readonly cache = new Map<number, BlockFees>();
  private head: HeadFees | undefined;
  private readonly cacheBlocks: number;
  readonly blobParams: BlobParams;

  constructor(
    private readonly view: ChainView,
    opts: FeeOracleOptions = {},
  ) {
    this.cacheBlocks = opts.cacheBlocks ?? 2048;
    this.blobParams = opts.blobParams ?? BPO1_BLOBS;
  }

  /** Fee data of the held block at `height`, or undefined when it is not held. */
  blockFees(height: number): BlockFees | undefined {
    const hit = this.cache.get(height);
    if (hit && this.view.heightByHash(hit.hash as `0x${string}`) === height) return hit;
    const block = this.view.block(height);
    if (!block) return undefined;
    const fees = this.compute(block);
    if (this.cache.size >= this.cacheBlocks) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(height, fees);
    return fees;
  }

  private compute(block: RpcBlock): BlockFees {
    const baseFee = big(block.baseFeePerGas) ?? 0n;
    const gasUsed = Number(big(block.gasUsed) ?? 0n);
    const gasLimit = Number(big(block.gasLimit) ?? 0n);
    const blobUsed = big(block.blobGasUsed);
    const maxBlobGas = Number(this.blobParams.maxBlobs * GAS_PER_BLOB);
    const txs: BlockFees["txs"] = [];
    if (block.transactions.length > 0) {
      const height = Number(block.number);
      const raw = this.view.blockReceiptsJson(height);
      if (!raw) {
        throw new CommonError("INTERNAL", `receipts of held block ${height} are missing`, { height });
      }
      const receipts = JSON.parse(raw.text) as { cumulativeGasUsed: string }[];
      let previous = 0n;
      block.transactions.forEach((tx, i) => {
        const cumulative = BigInt(receipts[i]?.cumulativeGasUsed ?? previous);
        txs.push({ gasUsed: cumulative - previous, tip: effectiveTip(tx, baseFee) });
        previous = cumulative;
      });
      txs.sort((a, b) => (a.tip < b.tip ? -1 : a.tip > b.tip ? 1 : 0));
    }
    return {
      hash: block.hash.toLowerCase(),
      baseFee,
      blobBaseFee: blobBaseFee(block, this.blobParams),
      gasUsedRatio: gasLimit === 0 ? 0 : gasUsed / gasLimit,
      blobGasUsedRatio: blobUsed === undefined || maxBlobGas === 0 ? 0 : Number(blobUsed) / maxBlobGas,
      gasUsed,
      txs,
    };
  }

  /** Next-block fees after the head `tip` (cached per head hash), or undefined when it is not held. */
  headFees(tip: { height: number; hash: string }): HeadFees | undefined {
    const hash = tip.hash.toLowerCase();
    if (this.head?.hash === hash) return this.head;
    const block = this.view.header ? this.view.header(tip.height) : this.view.block(tip.height);
    if (!block) return undefined;
    this.head = {
      hash,
      london: block.baseFeePerGas !== undefined && block.baseFeePerGas !== null,
      nextBaseFee: nextBaseFee(block),
      nextBlobBaseFee: nextBlobBaseFee(block, this.blobParams),
      suggestedTip: this.suggestedTip(tip.height),
    };
    return this.head;
  }

  /**
   * anvil's suggested tip: the smallest effective tip in the latest block, at least 1 gwei
   * (eth_maxPriorityFeePerGas; also added to the next base fee by eth_gasPrice).
   */
  suggestedTip(tipHeight: number): bigint {
    const fees = this.blockFees(tipHeight);
    const lowest = fees?.txs[0]?.tip;
    return lowest !== undefined && lowest > MIN_SUGGESTED_PRIORITY_FEE ? lowest : MIN_SUGGESTED_PRIORITY_FEE;
  }
}
