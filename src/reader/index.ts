export {
  ChainDb,
  type ChainDbOptions,
  type ChainInfo,
  type PendingUnwind,
  type PrefixSwitch,
  type Progress,
} from "./db.ts";
export {
  type ReaderChainOptions,
  type ReaderNodeOptions,
  type RunningReaderNode,
  startReaderNode,
} from "./node.ts";
export { backtrackOffline, switchOffline } from "./offline.ts";
export {
  type AppliedBlock,
  Replicator,
  type ReplicatorOptions,
  type ReplicatorStatus,
  type SwitchStatus,
  type Unwound,
} from "./replicator.ts";
export { lockDataDir, type ReaderConfig, type RunningReader, startReader } from "./start.ts";
export { RpcWorkers, type RpcWorkersOptions, type WorkerConfig } from "./workers.ts";
