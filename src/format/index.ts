export * from "./archive.ts";
export { decodeJsonGz, encodeJsonGz, sha256Hex } from "./codec.ts";
export { BundleError, type BundleErrorCode } from "./errors.ts";
export * from "./fees.ts";
export { computeBlockHash, encodeHeader } from "./header.ts";
export * from "./keys.ts";
export { encodeReceipt, encodeTransaction, orderedTrieRoot, verifyBodyRoots } from "./roots.ts";
export * from "./types.ts";
