/**
 * Object-store key layout (ARCHITECTURE.md, "Object store contract"). Heights are zero-padded to 12
 * digits and write timestamps to 13, so lexicographic order is numeric order.
 */

/** Width of a zero-padded height. */
export const HEIGHT_DIGITS = 12;
/** Width of a zero-padded write timestamp. */
export const WRITE_TS_DIGITS = 13;

/** `{prefix}/{chainId}/`: the root of one writer line of one chain. */
export function chainRoot(prefix: string, chainId: number): string {
  return `${prefix}/${chainId}/`;
}

export function padHeight(h: number): string {
  return h.toString().padStart(HEIGHT_DIGITS, "0");
}

export function padTs(ts: number): string {
  return ts.toString().padStart(WRITE_TS_DIGITS, "0");
}

export function metaKey(root: string): string {
  return `${root}meta.json`;
}

export function bundleKey(root: string, height: number, writeTs: number, hash: string): string {
  return `${root}blocks/${padHeight(height)}/${padTs(writeTs)}-${hash}`;
}

export function headKey(root: string, height: number, writeTs: number, hash: string): string {
  return `${root}heads/${padHeight(height)}/${padTs(writeTs)}-${hash}`;
}

export function headsPrefix(root: string): string {
  return `${root}heads/`;
}

/** The key after which listing `heads/` starts at `height` (inclusive). */
export function headsStartAfter(root: string, height: number): string | undefined {
  if (height <= 0) return undefined;
  return `${root}heads/${padHeight(height - 1)}/~`;
}

export function initialStateKey(root: string, height: number): string {
  return `${root}state/${padHeight(height)}.json.gz`;
}

/** Parsed `heads/{height}/{writeTs}-{hash}` key. */
export interface HeadKeyParts {
  height: number;
  writeTs: number;
  hash: string;
}

export function parseHeadKey(root: string, key: string): HeadKeyParts | undefined {
  const m = /^heads\/(\d{12})\/(\d{13})-(0x[0-9a-f]{64})$/.exec(key.slice(root.length));
  if (!m) return undefined;
  return { height: Number(m[1]), writeTs: Number(m[2]), hash: m[3] as string };
}
