import { ARCHIVE_VERSION } from "../format/index.ts";
import type { ChainStore } from "../store/index.ts";

/**
 * An archive document of `chain` (a segment index, a snapshot manifest): STORE_NOT_FOUND when
 * missing, BUNDLE_FORMAT when it is not JSON, not of this archive version and chain, when a field
 * of `expect` differs (what its key names), or when `valid` (the document's own checks) says no.
 */
export function readArchiveDoc<T extends { version: number; chainId: number }>(
  chain: ChainStore,
  key: string,
  what: string,
  expect: Partial<T>,
  valid: (doc: T) => boolean,
): Promise<T> {
  return chain.readJson<T>(
    key,
    what,
    (doc) =>
      doc.version === ARCHIVE_VERSION &&
      doc.chainId === chain.chainId &&
      Object.entries(expect).every(([k, v]) => doc[k as keyof T] === v) &&
      valid(doc),
  );
}
