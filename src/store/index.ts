export { ChainStore, type HeadRef } from "./chain.ts";
export { FsStore, type FsStoreOptions } from "./fs-store.ts";
export type { ListOptions, ObjectStore } from "./types.ts";
