/**
 * A cache of `eth_call` answers keyed by the concrete block HASH and the canonical request.
 *
 * A block's post-state never changes for its hash, so the same call on the same block hash always
 * has the same answer. Keys never use a tag or a height: after a reorg the height names another
 * block, whose hash is another key (erigon #15334 served an orphaned block's data from a cache
 * keyed by "latest"). Only deterministic answers are kept: results, and the execution errors
 * (revert, halt, rejection) the EVM answers after running; never "state unavailable" or
 * "unsupported" (those are forwarded upstream), nor calls with a block environment of their own
 * (`pending`, which takes the wall clock).
 */
import { isErrorCode } from "../util/errors.ts";
import type { Hex } from "../util/hex.ts";

/** A cached answer: the result, or the error to throw again. */
export type CachedCall = { ok: true; result: Hex } | { ok: false; error: unknown };

/** Options of the call cache. */
export interface CallCacheOptions {
  /** Most answers kept (default 4096); 0 disables the cache. */
  maxEntries?: number;
  /** Largest result kept, in characters of hex (default 65536). */
  maxResultChars?: number;
  /** Longest key kept (block hash and request text), in characters (default 16384). */
  maxKeyChars?: number;
}

/** A JSON text of a request object with its top-level keys sorted (nested values as they are). */
export function canonicalRequest(req: Record<string, unknown>): string {
  const keys = Object.keys(req).sort();
  let out = "{";
  for (const k of keys) {
    const v = req[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ",";
    out += `${JSON.stringify(k)}:${JSON.stringify(v)}`;
  }
  return `${out}}`;
}

/** True for errors that are the answer itself (the same request fails the same way again). */
export function isDeterministicCallError(err: unknown): boolean {
  return (
    isErrorCode(err, "EVM_REVERTED") ||
    isErrorCode(err, "EVM_FAILED") ||
    isErrorCode(err, "EVM_INVALID_REQUEST")
  );
}

/** Least-recently-used answers by (block hash, canonical request). */
export class CallCache {
  private readonly entries = new Map<string, CachedCall>();
  private readonly maxEntries: number;
  private readonly maxResultChars: number;
  private readonly maxKeyChars: number;
  /** Lookups answered from the cache, and lookups that were not. */
  hits = 0;
  misses = 0;

  constructor(opts: CallCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 4096;
    this.maxResultChars = opts.maxResultChars ?? 65536;
    this.maxKeyChars = opts.maxKeyChars ?? 16384;
  }

  /** The key of `request` on the block with this hash. */
  key(blockHash: Hex, request: string): string {
    return `${blockHash.toLowerCase()}${request}`;
  }

  get(key: string): CachedCall | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit;
  }

  set(key: string, answer: CachedCall): void {
    if (this.maxEntries === 0 || key.length > this.maxKeyChars) return;
    if (answer.ok && answer.result.length > this.maxResultChars) return;
    if (!answer.ok && !isDeterministicCallError(answer.error)) return;
    this.entries.delete(key);
    this.entries.set(key, answer);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /** Number of answers kept. */
  get size(): number {
    return this.entries.size;
  }
}
