export {
  ChainDb,
  type ChainDbOptions,
  type PendingUnwind,
  type PrefixSwitch,
  type Progress,
} from "./db.ts";
export { lockDataDir } from "./lock.ts";
export { backtrackOffline, switchOffline } from "./offline.ts";
export { type ReplicatorOptions, readerOptions, replicatorOptions } from "./options.ts";
export {
  type AppliedBlock,
  Replicator,
  type ReplicatorStatus,
  type SwitchStatus,
  type Unwound,
} from "./replicator.ts";
