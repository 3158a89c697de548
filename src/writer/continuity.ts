import type { AccountState, StateDiff } from "../format/index.ts";
import { WriterError } from "./errors.ts";

function accountText(a: AccountState | null): string {
  return a === null ? "null" : `${BigInt(a.balance)}|${BigInt(a.nonce)}|${a.codeHash}`;
}

/**
 * The newest post-value the writer committed for each recently touched account and storage slot.
 * A block's pre-values must equal them: the reader checks exactly this against the state it holds
 * and refuses the block otherwise, so the writer checks first and re-fetches instead of committing
 * a block no reader would apply (a state read racing with the upstream mining the next block is
 * one way to get such a diff). Bounded: past `maxEntries` it
 * starts over.
 */
export class CommittedState {
  private readonly accounts = new Map<string, string>();
  private readonly storage = new Map<string, Map<string, string>>();
  private entries = 0;

  constructor(private readonly maxEntries = 500_000) {}

  /** Throws `UPSTREAM_DIFF_MISMATCH` naming the first pre-value that contradicts a committed post-value. */
  check(height: number, diff: StateDiff): void {
    const fail = (key: string, committed: string, pre: string): never => {
      throw new WriterError(
        "UPSTREAM_DIFF_MISMATCH",
        `block ${height}: pre-value of ${key} is not the value committed before it`,
        { height, key, committed, pre },
      );
    };
    for (const [addr, { pre }] of Object.entries(diff.accounts)) {
      const committed = this.accounts.get(addr);
      const text = accountText(pre);
      if (committed !== undefined && committed !== text) fail(addr, committed, text);
    }
    for (const [addr, slots] of Object.entries(diff.storage)) {
      const known = this.storage.get(addr);
      if (!known) continue;
      for (const [slot, [pre]] of Object.entries(slots)) {
        const committed = known.get(slot);
        if (committed !== undefined && BigInt(committed) !== BigInt(pre))
          fail(`${addr}:${slot}`, committed, pre);
      }
    }
  }

  /** Records the post-values of a committed block. */
  record(diff: StateDiff): void {
    if (this.entries > this.maxEntries) this.clear();
    for (const [addr, { post }] of Object.entries(diff.accounts)) {
      if (!this.accounts.has(addr)) this.entries++;
      this.accounts.set(addr, accountText(post));
      // A destroyed account's storage is gone with it, whether or not the diff lists every slot.
      if (post === null) this.entries -= this.forgetStorage(addr);
    }
    for (const [addr, slots] of Object.entries(diff.storage)) {
      let known = this.storage.get(addr);
      if (!known) {
        known = new Map();
        this.storage.set(addr, known);
      }
      for (const [slot, [, post]] of Object.entries(slots)) {
        if (!known.has(slot)) this.entries++;
        known.set(slot, post);
      }
    }
  }

  /** Forgets everything: after a reorg the committed chain has another state. */
  clear(): void {
    this.accounts.clear();
    this.storage.clear();
    this.entries = 0;
  }

  private forgetStorage(addr: string): number {
    const n = this.storage.get(addr)?.size ?? 0;
    this.storage.delete(addr);
    return n;
  }
}
