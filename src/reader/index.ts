export { ChainDb, type ChainDbOptions, type ChainInfo, type Progress } from "./db.ts";
export {
  type AppliedBlock,
  Replicator,
  type ReplicatorOptions,
  type ReplicatorStatus,
} from "./replicator.ts";
export { type ReaderConfig, type RunningReader, startReader } from "./start.ts";
export {
  type BlockHeader,
  type BlockLogKeys,
  type BlockLogText,
  type ChainTip,
  type ChainView,
  type HistoryMode,
  RawJson,
  type SyncInfo,
  type SyncStage,
} from "./view.ts";
export { RpcWorkers, type RpcWorkersOptions, type WorkerConfig } from "./workers.ts";
