import { errorClass } from "../util/errors.ts";

/**
 * Codes of the staged sync: its source has nothing to start from yet (no chain descriptor), or
 * no longer has what a stage was resuming (the snapshot being restored).
 */
export type SyncErrorCode = "SYNC_SOURCE_EMPTY";

/** An error with a {@link SyncErrorCode}. */
export const SyncError = errorClass<SyncErrorCode>("SyncError");
export type SyncError = InstanceType<typeof SyncError>;
