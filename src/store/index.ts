export { ChainStore, type HeadRef, onlyChainId } from "./chain.ts";
export { StoreError, type StoreErrorCode } from "./errors.ts";
export { FsStore, type FsStoreOptions } from "./fs-store.ts";
export { HttpStore, RECOVERY_PATH, type ServedChain, serveObjects } from "./http.ts";
export { describeStore, openStore, parseStoreUrl, type StoreSpec } from "./open.ts";
export { type StoreOptions, storeOptions, storeSpecFrom } from "./options.ts";
export { DEFAULT_RETRY_POLICY, type RetryOutcome, type RetryPolicy, retry } from "./retry.ts";
export {
  isTransientS3Error,
  type S3Credentials,
  S3Store,
  type S3StoreDeps,
  type S3StoreOptions,
} from "./s3-store.ts";
export type { ListOptions, ObjectStore } from "./types.ts";
