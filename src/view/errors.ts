import { errorClass } from "../util/errors.ts";

/**
 * Codes of a read the reader cannot answer from what it holds: state it does not know (ask the
 * upstream), state its history mode no longer keeps, a block or header it does not have.
 */
export type ReadErrorCode = "STATE_UNAVAILABLE" | "STATE_PRUNED" | "BLOCK_NOT_FOUND" | "HEADER_NOT_FOUND";

/** An error with a {@link ReadErrorCode}. */
export const ReadError = errorClass<ReadErrorCode>("ReadError");
export type ReadError = InstanceType<typeof ReadError>;
