import { errorClass } from "../util/errors.ts";

/**
 * Object store codes: an object that is not there, an I/O failure, a store that stays unreachable
 * after retries.
 */
export type StoreErrorCode = "STORE_NOT_FOUND" | "STORE_IO" | "STORE_UNAVAILABLE";

/** An error with a {@link StoreErrorCode}. */
export const StoreError = errorClass<StoreErrorCode>("StoreError");
export type StoreError = InstanceType<typeof StoreError>;
