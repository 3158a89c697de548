export {
  type ClusterChain,
  DEMO_CHAIN_ID_BASE,
  demoChainName,
  type MultiChainClusterOptions,
  multiChainCluster,
} from "./cluster-file.ts";
export { runDemo } from "./demo.ts";
export { TrafficError, type TrafficErrorCode } from "./errors.ts";
export { type DemoOptions, demoOptions } from "./options.ts";
export {
  ANVIL_DEV_KEYS,
  ANVIL_MNEMONIC,
  CONTRACTS,
  type ContractAddresses,
  type ContractArtifact,
  type ContractName,
  storeValueSlot,
} from "./traffic/contracts.ts";
export { TrafficGenerator } from "./traffic/generator.ts";
export {
  type BatchOptions,
  type RawReceipt,
  type RoundResult,
  type RunOptions,
  type SentTx,
  type StorageSlotRef,
  type TrafficDeps,
  type TrafficManifest,
  type TrafficOptions,
  TX_KINDS,
  type TxKind,
} from "./traffic/types.ts";
