/** The records the reader database keeps in `meta` beside the chain's data. */
import type { HeadRecord } from "../../format/index.ts";
import type { Hex } from "../../util/hex.ts";
import type { ChainTip } from "../../view/index.ts";

/** The progress marker, written in the same transaction as the block it names. */
export interface Progress extends ChainTip {
  writeTs: number;
}

/**
 * The progress marker at block `height` (`hash`): the write time of `from` (the block's head
 * record, or the marker an unwind lowers), and its safe and finalized heights, never above
 * `height`. The one place a marker is made.
 */
export function markerAt(
  height: number,
  hash: Hex,
  from: Pick<HeadRecord, "writeTs" | "safe" | "finalized">,
): Progress {
  return {
    height,
    hash,
    writeTs: from.writeTs,
    safe: Math.min(from.safe, height),
    finalized: Math.min(from.finalized, height),
  };
}

/** The marker of an applied block: its head record's. */
export function markerOf(rec: HeadRecord): Progress {
  return markerAt(rec.height, rec.hash, rec);
}

/**
 * A bounded unwind in progress (backtrack, or the reset of a prefix switch), recorded before its
 * first step and removed with its last, so that a restart finishes it.
 */
export interface PendingUnwind {
  /** Height the database is unwound to (kept). */
  to: number;
  reason: "backtrack" | "switch";
}

/**
 * A switch to another writer line that is not verified yet: nothing from `prefix` is applied until
 * its canonical head record at `height` has `hash` (the block the reader kept).
 */
export interface PrefixSwitch {
  prefix: string;
  previous: string;
  /** The reset height (applied − 2·reorgMax at the switch); -1 when nothing was applied. */
  height: number;
  /** The held block's hash at `height` (absent when nothing was applied). */
  hash?: Hex;
}
