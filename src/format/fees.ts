/**
 * Fee-market rules shared by the EVM's pending-block environment and the RPC fee answers: the
 * EIP-1559 base fee of the next block and the EIP-4844 blob base fee (with EIP-7918's reserve
 * price), as anvil computes them.
 */
/** The header fields the fee rules read (JSON-RPC quantities). */
export interface FeeHeader {
  number?: unknown;
  gasUsed?: unknown;
  gasLimit?: unknown;
  baseFeePerGas?: unknown;
}

/** EIP-1559 parameters (ethereum mainnet values, which anvil uses). */
const ELASTICITY_MULTIPLIER = 2n;
const BASE_FEE_MAX_CHANGE_DENOMINATOR = 8n;

/** Blob gas per blob (EIP-4844). */
export const GAS_PER_BLOB = 131_072n;

/** Blob schedule of a fork (EIP-7840). */
export interface BlobParams {
  targetBlobs: bigint;
  maxBlobs: bigint;
  updateFraction: bigint;
  /** EIP-7918 reserve price factor; 0 before Osaka. */
  baseCost: bigint;
}

/** The blob schedule of BPO1, anvil 1.7's default hardfork. */
export const BPO1_BLOBS: BlobParams = {
  targetBlobs: 10n,
  maxBlobs: 15n,
  updateFraction: 8_346_193n,
  baseCost: 8192n,
};

/** fake_exponential of EIP-4844. */
export function fakeExponential(factor: bigint, numerator: bigint, denominator: bigint): bigint {
  let i = 1n;
  let output = 0n;
  let acc = factor * denominator;
  while (acc > 0n) {
    output += acc;
    acc = (acc * numerator) / (denominator * i);
    i += 1n;
  }
  return output / denominator;
}

export function big(v: unknown): bigint | undefined {
  if (typeof v === "string" && v.startsWith("0x")) return BigInt(v);
  if (typeof v === "number") return BigInt(v);
  return undefined;
}

/** Base fee per blob gas for an excess blob gas (EIP-4844). */
export function blobBaseFeeOf(excess: bigint, p: BlobParams): bigint {
  return fakeExponential(1n, excess, p.updateFraction);
}

/** Excess blob gas of the block after one with `excess` and `used` blob gas (EIP-4844, EIP-7918). */
export function nextExcessBlobGas(excess: bigint, used: bigint, baseFee: bigint, p: BlobParams): bigint {
  const target = p.targetBlobs * GAS_PER_BLOB;
  if (excess + used < target) return 0n;
  if (p.baseCost * baseFee > GAS_PER_BLOB * blobBaseFeeOf(excess, p)) {
    return excess + (used * (p.maxBlobs - p.targetBlobs)) / p.maxBlobs;
  }
  return excess + used - target;
}

/**
 * The base fee of the block after `block`, per EIP-1559. Anvil does not move the base fee after
 * its genesis block (block 1 has block 0's), and keeps a zero base fee at zero.
 */
export function nextBaseFee(block: FeeHeader): bigint {
  const base = big(block.baseFeePerGas) ?? 0n;
  if (base === 0n || big(block.number) === 0n) return base;
  const gasUsed = big(block.gasUsed) ?? 0n;
  const target = (big(block.gasLimit) ?? 0n) / ELASTICITY_MULTIPLIER;
  if (target === 0n || gasUsed === target) return base;
  if (gasUsed > target) {
    const delta = (base * (gasUsed - target)) / target / BASE_FEE_MAX_CHANGE_DENOMINATOR;
    return base + (delta > 1n ? delta : 1n);
  }
  const delta = (base * (target - gasUsed)) / target / BASE_FEE_MAX_CHANGE_DENOMINATOR;
  return base > delta ? base - delta : 0n;
}
