/**
 * The object-store interface (see ARCHITECTURE.md, "Object store contract"). Keys are `/`-separated
 * strings; listing is in lexicographic key order, which the key layout makes numeric order.
 */
export interface ObjectStore {
  /** Writes `data` at `key`, atomically: a reader sees the whole object or none of it. */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Reads `key`; `undefined` when it does not exist. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Reads `length` bytes of `key` from byte `offset`; `undefined` when the object does not exist.
   * Optional: callers fall back to `get` and slice (segments read a run of blocks this way).
   */
  getRange?(key: string, offset: number, length: number): Promise<Uint8Array | undefined>;
  /**
   * Lists keys that start with `prefix`, in lexicographic order, strictly after `startAfter` when
   * given, at most `limit` of them (default: all).
   */
  list(prefix: string, opts?: ListOptions): Promise<string[]>;
  /** Deletes `key`; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Releases resources. */
  close(): Promise<void>;
}

/** Options of `ObjectStore.list`. */
export interface ListOptions {
  /** Only keys strictly greater than this one. */
  startAfter?: string;
  /** At most this many keys. */
  limit?: number;
}
