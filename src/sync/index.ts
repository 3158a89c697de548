export { type ProgressMode, showProgress } from "./progress.ts";
export { type StageProgress, Syncer, type SyncerOptions } from "./syncer.ts";
