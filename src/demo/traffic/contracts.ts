/** The demo contracts, anvil's development keys, and how the traffic calls the contracts. */
import {
  type Abi,
  type Address,
  encodeAbiParameters,
  encodeDeployData,
  encodeFunctionData,
  keccak256,
  toHex,
} from "viem";
import type { Hex } from "../../util/hex.ts";
import artifactsJson from "../contracts.json" with { type: "json" };

/** The mnemonic of anvil's (and hardhat's) well-known development accounts. */
export const ANVIL_MNEMONIC = "test test test test test test test test test test test junk";

/** Private keys of accounts 0..9 of {@link ANVIL_MNEMONIC} (m/44'/60'/0'/0/i), funded by anvil. */
export const ANVIL_DEV_KEYS: readonly Hex[] = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/** Names of the demo contracts in `contracts/*.sol`. */
export type ContractName = "Caller" | "Child" | "Probe" | "Reverter" | "SelfDestructor" | "Store" | "Token";

/** A compiled contract: its ABI and creation / runtime bytecode. */
export interface ContractArtifact {
  abi: Abi;
  bytecode: Hex;
  deployedBytecode: Hex;
}

/**
 * The compiled demo contracts (`npm run contracts` regenerates them from `contracts/`). They target
 * the "prague" EVM, which anvil's default hardfork runs.
 */
export const CONTRACTS = artifactsJson as unknown as Record<ContractName, ContractArtifact>;

/** Addresses of the contracts {@link TrafficGenerator.deploy} creates. */
export interface ContractAddresses {
  token: Address;
  store: Address;
  caller: Address;
  reverter: Address;
  probe: Address;
}

/** Gas limits for the round's calls, with a margin over what they use (measured on anvil). */
export const GAS = {
  transfer: 21_000n,
  tokenTransfer: 80_000n,
  tokenApprove: 60_000n,
  storeSet: 100_000n,
  storeFill: 120_000n,
  storeClear: 60_000n,
  storeRaw: 60_000n,
  revert: 80_000n,
  selfDestruct: 100_000n,
  nested: 250_000n,
  deployChild: 200_000n,
  crossMisc: 150_000n,
  burnBase: 60_000n,
  burnPerIteration: 150n,
} as const;

export const MAX_UINT256 = 2n ** 256n - 1n;
export const TOKEN_SUPPLY_EACH = 10n ** 24n;
export const RAW_SLOT_BASE = 0x10000n;

/** The storage slot of `Store.values[key]` (mapping at slot 0): keccak256(abi.encode(key, 0)). */
export function storeValueSlot(key: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [key, 0n]));
}

/** A raw storage slot number as 32-byte DATA. */
export function slotHex(n: bigint): Hex {
  return toHex(n, { size: 32 });
}

/** Calldata of `functionName` on contract `name`. */
export function calldata(name: ContractName, functionName: string, args: readonly unknown[] = []): Hex {
  return encodeFunctionData({ abi: CONTRACTS[name].abi, functionName, args });
}

/** The creation code of contract `name` with its constructor arguments. */
export function deployData(name: ContractName, args: readonly unknown[] = []): Hex {
  const { abi, bytecode } = CONTRACTS[name];
  return args.length === 0 ? bytecode : encodeDeployData({ abi, bytecode, args });
}
