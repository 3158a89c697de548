import { ChainkeepError } from "../util/errors.ts";

/**
 * Codes of the staged sync: its source has nothing to start from yet (no chain descriptor), or
 * no longer has what a stage was resuming (the snapshot being restored).
 */
export type SyncErrorCode = "SYNC_SOURCE_EMPTY";

/** An error with a {@link SyncErrorCode}. */
export class SyncError extends ChainkeepError {
  declare readonly code: SyncErrorCode;

  constructor(
    code: SyncErrorCode,
    message: string,
    meta: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, meta, options);
  }
}
