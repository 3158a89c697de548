import { ChainkeepError } from "../util/errors.ts";

/**
 * Writer codes: the upstream's state diff disagrees with plain state reads or with the committed
 * state.
 */
export type WriterErrorCode = "UPSTREAM_DIFF_MISMATCH";

/** An error with a {@link WriterErrorCode}. */
export class WriterError extends ChainkeepError {
  declare readonly code: WriterErrorCode;

  constructor(
    code: WriterErrorCode,
    message: string,
    meta: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, meta, options);
  }
}
