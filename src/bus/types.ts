/** A "block h is in the store" hint. Readers never trust it: they read the store. */
export interface HeadNotice {
  chainId: number;
  prefix: string;
  height: number;
  hash: string;
  writeTs: number;
}

/**
 * The notification bus. A notice is only a wake-up hint: a lost one delays a reader until its
 * next store poll but never loses a block.
 */
export interface Bus {
  publish(notice: HeadNotice): Promise<void>;
  /** Calls `onNotice` for every notice of `chainId`; returns an unsubscribe function. */
  subscribe(chainId: number, onNotice: (n: HeadNotice) => void): () => void;
  close(): Promise<void>;
}
