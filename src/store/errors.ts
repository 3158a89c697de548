import { ChainkeepError } from "../util/errors.ts";

/**
 * Object store codes: an object that is not there, an I/O failure, a store that stays unreachable
 * after retries.
 */
export type StoreErrorCode = "STORE_NOT_FOUND" | "STORE_IO" | "STORE_UNAVAILABLE";

/** An error with a {@link StoreErrorCode}. */
export class StoreError extends ChainkeepError {
  declare readonly code: StoreErrorCode;

  constructor(
    code: StoreErrorCode,
    message: string,
    meta: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, meta, options);
  }
}
