/** Builds chains with every kind of transaction on a fresh node, for tests that need real data. */
import type { Address } from "viem";
import {
  type ContractAddresses,
  type StorageSlotRef,
  TrafficGenerator,
  type TrafficManifest,
  type TxKind,
} from "../../src/demo/index.ts";
import type { Hex } from "../../src/util/hex.ts";
import { type Logger, silentLogger } from "../../src/util/logger.ts";
import { rpcResult } from "./net.ts";

/** What {@link buildVariedChain} produced. */
export interface VariedChainManifest {
  chainId: number;
  contracts: ContractAddresses;
  /** Hashes by kind; a hash appears under its content kind(s) and its envelope type. */
  txs: Record<TxKind, Hex[]>;
  /** Every address the transactions touched. */
  accounts: Address[];
  storage: { written: StorageSlotRef[]; deleted: StorageSlotRef[] };
  /** Contracts that self-destructed in their creating transaction. */
  selfDestructed: Address[];
  /** Children created with CREATE2. */
  children: Address[];
  /** Blocks holding the transactions: `from` is the first block after the starting head. */
  blocks: { from: number; to: number };
}

/** Options of {@link buildVariedChain}. */
export interface VariedChainOptions {
  /** Minimum number of traffic rounds (default 3). */
  rounds?: number;
  /** Keep sending rounds until the head is at least this high (default 40). */
  minBlocks?: number;
  logger?: Logger;
}

/**
 * On a fresh node (anvil's dev accounts funded; automine or `--block-time`), deploys the demo
 * contracts and sends traffic rounds until there are at least `minBlocks` blocks, waits until
 * everything is mined, and returns the manifest.
 */
export async function buildVariedChain(
  node: { url: string; chainId: number },
  opts: VariedChainOptions = {},
): Promise<VariedChainManifest> {
  const start = Number(await rpcResult<string>(node.url, "eth_blockNumber"));
  const gen = new TrafficGenerator(
    { rpcUrl: node.url, chainId: node.chainId },
    { logger: opts.logger ?? silentLogger() },
  );
  await gen.deploy();
  const minRounds = opts.rounds ?? 3;
  const minBlocks = opts.minBlocks ?? 40;
  for (let r = 0; ; r++) {
    if (r >= minRounds) {
      await gen.settle();
      const head = Number(await rpcResult<string>(node.url, "eth_blockNumber"));
      if (head >= minBlocks) break;
    }
    await gen.round();
  }
  await gen.settle();
  const to = Number(await rpcResult<string>(node.url, "eth_blockNumber"));
  const m: TrafficManifest = gen.manifest();
  return {
    chainId: node.chainId,
    contracts: m.contracts as ContractAddresses,
    txs: m.txs,
    accounts: m.accounts,
    storage: m.storage,
    selfDestructed: m.selfDestructed,
    children: m.children,
    blocks: { from: start + 1, to },
  };
}
