import { errorClass } from "../util/errors.ts";

/**
 * Writer codes: the upstream's state diff disagrees with plain state reads or with the committed
 * state.
 */
export type WriterErrorCode = "UPSTREAM_DIFF_MISMATCH";

/** An error with a {@link WriterErrorCode}. */
export const WriterError = errorClass<WriterErrorCode>("WriterError");
export type WriterError = InstanceType<typeof WriterError>;
