/**
 * A reader's staged sync (CHECKPOINT → BACKFILL → HEAD → LIVE) and the interfaces it needs: the
 * database it writes, the head follower it starts, and where it reads checkpoints and block runs.
 */

export { SyncError, type SyncErrorCode } from "./errors.ts";
export {
  PROGRESS_MODES,
  type ProgressMode,
  progressOptions,
  type SyncerOptions,
  syncOptions,
} from "./options.ts";
export { showProgress } from "./progress.ts";
export { type StageProgress, Syncer, type SyncerDeps } from "./syncer.ts";
export type {
  BlockToApply,
  CheckpointSource,
  FollowerStatus,
  HeadFollower,
  RangeSource,
  StateRootCheck,
  SyncDb,
} from "./types.ts";
