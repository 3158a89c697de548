/**
 * Unwinding blocks from the reader database: a block's rows leave every table, and the latest
 * rows of the keys its diff wrote fall back to the newest remaining history row. Runs inside the
 * caller's write transaction (a reorg's, or a step of a bounded unwind).
 */
import type { RpcBlock, RpcLog } from "../../format/index.ts";
import { crashPoint } from "../../util/crash.ts";
import { type Hex, lower } from "../../util/hex.ts";
import type { Tables } from "./tables.ts";

/** Removes block `h` from every table; returns its logs. */
export function unwindBlock(t: Tables, h: number): RpcLog[] {
  const info = t.blockInfo.get(h);
  const logs = t.logs.get(h) ?? [];
  const full = t.blockFull.get(h);
  if (full) {
    const block = JSON.parse(full) as RpcBlock;
    block.transactions.forEach((tx, i) => {
      const loc = t.txLoc.get(lower(tx.hash));
      if (loc && loc[0] === h) t.txLoc.remove(lower(tx.hash));
      t.txJson.remove([h, i]);
      t.rcptJson.remove([h, i]);
    });
  }
  if (info && t.byHash.get(info.hash) === h) t.byHash.remove(info.hash);
  for (const db of [t.blockFull, t.blockLite, t.blockRcpts, t.blockInfo, t.blockHead, t.logs]) db.remove(h);
  t.logText.remove(h);
  t.logKeys.remove(h);
  for (const a of new Set(logs.map((l) => l.address.toLowerCase()))) t.logAddr.remove([a, h]);
  const keys = t.blockKeys.get(h);
  if (keys) {
    for (const addr of keys.a) {
      t.acct.remove([addr, h]);
      let restored = false;
      for (const { key, value } of t.acct.getRange({
        start: [addr, h - 1],
        end: [addr],
        reverse: true,
        limit: 1,
      })) {
        t.acctLast.put(addr, [key[1], value]);
        restored = true;
      }
      if (!restored) t.acctLast.remove(addr);
    }
    for (const [addr, slot] of keys.s) {
      t.stor.remove([addr, slot, h]);
      let restored = false;
      for (const { key, value } of t.stor.getRange({
        start: [addr, slot, h - 1],
        end: [addr, slot],
        reverse: true,
        limit: 1,
      })) {
        t.storLast.put([addr, slot], [key[2], value as Hex]);
        restored = true;
      }
      if (!restored) t.storLast.remove([addr, slot]);
    }
    t.blockKeys.remove(h);
  }
  crashPoint("unwind");
  return logs;
}
