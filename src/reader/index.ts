/**
 * A reader: its local database (`ChainDb`, which implements the `ChainView` the RPC layer reads
 * and the `SyncDb` the staged sync writes), the replicator that follows the store's head block by
 * block (the sync's `HeadFollower`), the data directory's lock, and operator actions on a stopped
 * reader's directory.
 */
export { type BlockWithRecord, ChainDb, type ChainDbOptions } from "./db/chain-db.ts";
export type { PendingUnwind, PrefixSwitch, Progress } from "./db/records.ts";
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
