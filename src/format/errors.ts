import { errorClass } from "../util/errors.ts";

/**
 * Verification codes of data read back from the store, a peer or an archive: a bundle, head
 * record, segment or snapshot that does not check out (size and sha256, block hash, body roots,
 * format, parent link, pre-state).
 */
export type BundleErrorCode =
  | "BUNDLE_CHECKSUM"
  | "BUNDLE_HASH_MISMATCH"
  | "BUNDLE_PARENT_MISMATCH"
  | "BUNDLE_FORMAT"
  | "BUNDLE_PRE_MISMATCH"
  | "BUNDLE_ROOT_MISMATCH"
  | "BUNDLE_STATE_ROOT";

/** An error with a {@link BundleErrorCode}. */
export const BundleError = errorClass<BundleErrorCode>("BundleError");
export type BundleError = InstanceType<typeof BundleError>;
