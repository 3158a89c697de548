/** The execution environment: hardfork, chain config, block header and BLOCKHASH views. */
import type { Block } from "@ethereumjs/block";
import { type Common, createCustomCommon, Hardfork, Mainnet } from "@ethereumjs/common";
import type { EVM, EVMMockBlockchainInterface } from "@ethereumjs/evm";
import { Address, hexToBytes, type KZG, setLengthLeft } from "@ethereumjs/util";
import { BPO1_BLOBS, blobBaseFeeOf, nextBaseFee, nextExcessBlobGas } from "../format/index.ts";
import type { Hex } from "../util/hex.ts";
import type { BlockHeader } from "../view/index.ts";
import { ReadError } from "../view/index.ts";
import { EvmError } from "./errors.ts";
import type { OverlayStateManager, SourceState } from "./state.ts";
import type { BlockEnv, EvmStateSource } from "./types.ts";

/**
 * The hardfork anvil 1.7.1 runs by default ("latest"): Osaka. Probed with opcodes: CLZ (EIP-7939)
 * executes, Amsterdam's SLOTNUM (0x4b) and DUPN/SWAPN/EXCHANGE (0xe6–0xe8) halt with NotActivated.
 */
export const HARDFORK = Hardfork.Osaka;

const commons = new Map<number, Common>();

// No KZG library is installed, so the point-evaluation precompile (0x0a) cannot verify proofs. Its
// input checks run as usual; a proof that reaches verification marks the EVM's run (each pooled
// EVM has a Common of its own whose KZG functions set its mark), which then fails with
// EVM_UNSUPPORTED instead of answering a possibly wrong rejection.
function unavailableKzg(mark?: { used: boolean }): KZG {
  const fail = (): never => {
    if (mark !== undefined) mark.used = true;
    throw new EvmError("EVM_UNSUPPORTED", "KZG proof verification is not available");
  };
  return {
    blobToKzgCommitment: fail,
    computeBlobProof: fail,
    verifyProof: fail,
    verifyBlobProofBatch: fail,
    computeCells: fail,
    computeCellsAndProofs: fail,
    recoverCellsAndProofs: fail,
    verifyCellKzgProofBatch: fail,
  };
}

/** Highest EIP number answered from the precomputed set (see `newCommon`). */
const MAX_EIP = 10_000;

function newCommon(chainId: number, mark?: { used: boolean }): Common {
  const common = createCustomCommon({ chainId, name: `chainkeep-${chainId}` }, Mainnet, {
    hardfork: HARDFORK,
    customCrypto: { kzg: unavailableKzg(mark) },
  });
  // The interpreter asks `isActivatedEIP` several times per instruction, and ethereumjs answers
  // with a linear search of the active EIPs. The hardfork of these Commons never changes, so
  // answer from a set computed once.
  const active = new Set<number>();
  for (let eip = 0; eip <= MAX_EIP; eip++) if (common.isActivatedEIP(eip)) active.add(eip);
  const slow = common.isActivatedEIP.bind(common);
  common.isActivatedEIP = (eip: number) => (eip <= MAX_EIP ? active.has(eip) : slow(eip));
  return common;
}

/** An ethereumjs Common for the chain id at {@link HARDFORK}, shared per chain id. */
export function commonFor(chainId: number): Common {
  let common = commons.get(chainId);
  if (common === undefined) {
    common = newCommon(chainId);
    commons.set(chainId, common);
  }
  return common;
}

/** The execution environment of block `rpc`, as anvil builds it from a header. */
export function blockEnvOf(rpc: BlockHeader): BlockEnv {
  const q = (field: string, dflt = 0n): bigint => {
    const v = rpc[field];
    return typeof v === "string" ? BigInt(v) : dflt;
  };
  const h = (field: string, dflt: Hex): Hex => {
    const v = rpc[field];
    return typeof v === "string" ? (v as Hex) : dflt;
  };
  return {
    number: BigInt(rpc.number),
    timestamp: BigInt(rpc.timestamp),
    coinbase: h("miner", `0x${"00".repeat(20)}`),
    baseFeePerGas: q("baseFeePerGas"),
    prevRandao: h("mixHash", `0x${"00".repeat(32)}`),
    gasLimit: q("gasLimit"),
    difficulty: q("difficulty"),
    excessBlobGas: q("excessBlobGas"),
  };
}

/**
 * The environment of the block after `parent`, as anvil builds its `pending` block (which it uses
 * for `eth_estimateGas` without a block parameter): number + 1, the EIP-1559 base fee and EIP-4844
 * (+ EIP-7918) excess blob gas that follow from the parent, the parent's PREVRANDAO, and
 * `timestamp` (anvil takes its wall clock: pass the reader's clock, in seconds).
 */
export function nextBlockEnv(parent: BlockHeader, timestamp: bigint): BlockEnv {
  const env = blockEnvOf(parent);
  const baseFee = nextBaseFee(parent);
  const blobUsed = typeof parent.blobGasUsed === "string" ? BigInt(parent.blobGasUsed) : 0n;
  const excess = nextExcessBlobGas(env.excessBlobGas, blobUsed, env.baseFeePerGas, BPO1_BLOBS);
  return { ...env, number: env.number + 1n, timestamp, baseFeePerGas: baseFee, excessBlobGas: excess };
}

/** Everything one request executes with: the pre-state, the block environment, the chain. */
export interface ExecContext {
  common: Common;
  state: SourceState;
  env: BlockEnv;
  block: Block;
  blockchain: EVMMockBlockchainInterface;
  /** The EVM of this request, taken from the pool by the first run and reset for the next ones. */
  vm?: PooledVm;
}

/**
 * An ethereumjs EVM with its state manager and a BLOCKHASH view that can be pointed at another
 * request's pre-state and chain: creating an EVM costs about a third of a simple call.
 */
export interface PooledVm {
  evm: EVM;
  sm: OverlayStateManager;
  chain: { target: EVMMockBlockchainInterface };
  /** Set when a run reached KZG proof verification (reset before each run). */
  kzg: { used: boolean };
}

/** A Common for one pooled EVM: the chain's, with KZG functions that set `kzg.used`. */
export function vmCommon(chainId: number, kzg: { used: boolean }): Common {
  return newCommon(chainId, kzg);
}

const POOL_SIZE = 16;
const pools = new Map<Common, PooledVm[]>();

/** Takes an idle EVM for `ctx`'s chain from the pool, or undefined when there is none. */
export function takeVm(ctx: ExecContext): PooledVm | undefined {
  const vm = pools.get(ctx.common)?.pop();
  if (vm !== undefined) {
    vm.sm.reset(ctx.state);
    vm.chain.target = ctx.blockchain;
  }
  return vm;
}

/**
 * A view of the blockchain that forwards to `chain.target`, for a pooled EVM.
 */
export function forwardingBlockchain(chain: {
  target: EVMMockBlockchainInterface;
}): EVMMockBlockchainInterface {
  const view: EVMMockBlockchainInterface = {
    getBlock: (n) => chain.target.getBlock(n),
    putBlock: async () => {},
    shallowCopy: () => view,
  };
  return view;
}

/** Returns the request's EVM to the pool once the request is done (not after a failed run). */
export function releaseVm(ctx: ExecContext): void {
  const vm = ctx.vm;
  ctx.vm = undefined;
  if (vm === undefined) return;
  let pool = pools.get(ctx.common);
  if (pool === undefined) {
    pool = [];
    pools.set(ctx.common, pool);
  }
  if (pool.length < POOL_SIZE) pool.push(vm);
}

/** Builds the ethereumjs block and blockchain views (BLOCKHASH reads the source's block hashes). */
export function makeContext(src: EvmStateSource, state: SourceState, env: BlockEnv): ExecContext {
  const common = commonFor(src.chainId);
  const blobPrice = blobBaseFeeOf(env.excessBlobGas, BPO1_BLOBS);
  const header = {
    number: env.number,
    timestamp: env.timestamp,
    coinbase: new Address(hexToBytes(env.coinbase)),
    difficulty: env.difficulty,
    prevRandao: setLengthLeft(hexToBytes(env.prevRandao), 32),
    gasLimit: env.gasLimit,
    baseFeePerGas: env.baseFeePerGas,
    slotNumber: 0n,
    getBlobGasPrice: () => blobPrice,
  };
  const hashes = new Map<number, Uint8Array>();
  const blockchain: EVMMockBlockchainInterface = {
    async getBlock(n: number) {
      let hash = hashes.get(n);
      if (hash === undefined) {
        const found = src.blockHash
          ? await src.blockHash(n)
          : src.header
            ? (await src.header(n))?.hash
            : (await src.block(n))?.hash;
        if (found === undefined) {
          throw new ReadError("STATE_UNAVAILABLE", `state unavailable: block ${n}`, {
            what: "block",
            height: n,
          });
        }
        hash = hexToBytes(found);
        hashes.set(n, hash);
      }
      const h = hash;
      return { hash: () => h };
    },
    async putBlock() {},
    shallowCopy() {
      return blockchain;
    },
  };
  return { common, state, env, block: { header } as unknown as Block, blockchain };
}
