/**
 * State history modes (`meta.history`): `archive` keeps every history row; `full` keeps the last
 * N blocks of state. Applying block h deletes, for every key written at h − N, its rows below
 * h − N (that row answers from there on), and records the highest such height (`prunedTo`), so
 * that a reorg never re-exposes pruned state.
 */
import type { Bundle } from "../../format/index.ts";
import type { HistoryMode } from "../../view/index.ts";
import type { Tables } from "./tables.ts";

/**
 * Lowest height whose state is answered: `earliest`, or in `full` mode the tip − N or the highest
 * height pruned so far, whichever is higher.
 */
export function stateFrom(
  mode: HistoryMode,
  earliest: number,
  tip: number | undefined,
  prunedTo: number | undefined,
): number {
  if (mode.mode !== "full") return earliest;
  return Math.max(earliest, (tip ?? earliest) - mode.blocks, prunedTo ?? earliest);
}

/**
 * Lowest height the database can unwind to: the earliest block, or in `full` mode the oldest
 * height whose state it still has (unwinding below it would need pruned rows).
 */
export function unwindFloor(mode: HistoryMode, earliest: number, prunedTo: number | undefined): number {
  if (mode.mode !== "full") return earliest;
  return Math.max(earliest, prunedTo ?? earliest);
}

/**
 * History mode `full`, inside the transaction applying block `height`: every key written at
 * height − N drops its rows below that height (the row at height − N answers from there); keys not
 * written there keep theirs until they are.
 */
export function pruneHistory(t: Tables, mode: HistoryMode, earliest: number, height: number): void {
  if (mode.mode !== "full") return;
  const s = height - mode.blocks;
  if (s <= earliest) return;
  const keys = t.blockKeys.get(s);
  if (!keys) return;
  t.meta.put("prunedTo", s);
  for (const addr of keys.a) {
    for (const key of t.acct.getKeys({ start: [addr], end: [addr, s], snapshot: false })) t.acct.remove(key);
  }
  for (const [addr, slot] of keys.s) {
    for (const key of t.stor.getKeys({ start: [addr, slot], end: [addr, slot, s], snapshot: false }))
      t.stor.remove(key);
  }
}

/**
 * Full-mode backfill far below the tip, inside the transaction applying block `height`: the keys
 * the block writes lose their previous history row (it will never be asked), and `prunedTo`
 * moves to the block.
 */
export function dropPreviousRows(t: Tables, bundle: Bundle, height: number): void {
  for (const addr of Object.keys(bundle.diff.accounts)) {
    const last = t.acctLast.get(addr);
    if (last && last[0] < height) t.acct.remove([addr, last[0]]);
  }
  for (const [addr, slots] of Object.entries(bundle.diff.storage)) {
    for (const slot of Object.keys(slots)) {
      const last = t.storLast.get([addr, slot]);
      if (last && last[0] < height) t.stor.remove([addr, slot, last[0]]);
    }
  }
  t.meta.put("prunedTo", height);
}
