export { runDemo } from "./demo.ts";
export { TrafficError, type TrafficErrorCode } from "./errors.ts";
export { type DemoOptions, demoOptions } from "./options.ts";
export {
  ANVIL_DEV_KEYS,
  ANVIL_MNEMONIC,
  type BatchOptions,
  CONTRACTS,
  type ContractAddresses,
  type ContractArtifact,
  type ContractName,
  type RawReceipt,
  type RoundResult,
  type RunOptions,
  type SentTx,
  type StorageSlotRef,
  storeValueSlot,
  type TrafficDeps,
  TrafficGenerator,
  type TrafficManifest,
  type TrafficOptions,
  TX_KINDS,
  type TxKind,
} from "./traffic.ts";
