/**
 * The derived tables: written in the same transaction as the rows they derive from, and rebuilt
 * from those rows when missing. `acctLast` and `storLast` hold each account's and slot's newest
 * history row, so a read at or above its height (`latest`) is one `get`; `blockHead` holds a
 * block's header fields; `logText`, `logKeys` and `logAddr` hold a block's logs as ready-to-serve
 * bytes, their match keys and an address index.
 */
import type { RpcBlock, RpcLog } from "../../format/index.ts";
import type { Hex } from "../../util/hex.ts";
import { DERIVED_VERSION, headerOf, type Tables } from "./tables.ts";

const OPEN_BRACKET = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE_BRACKET = Buffer.from("]");

/**
 * Rebuilds the derived tables and marks them complete: the latest rows from the history rows (the
 * newest row of each account and slot), `blockHead` from the stored blocks, and the log tables
 * from `blockLogs`. Runs inside the caller's write transaction.
 */
export function rebuildDerived(t: Tables): void {
  for (const { key, value } of t.logs.getRange({ snapshot: false })) {
    if (!t.logText.doesExist(key)) putLogIndex(t, key, value);
  }
  for (const { key, value } of t.blockLite.getRange({ snapshot: false })) {
    if (!t.blockHead.doesExist(key)) t.blockHead.put(key, headerOf(JSON.parse(value) as RpcBlock));
  }
  for (const key of t.acctLast.getKeys({ snapshot: false })) t.acctLast.remove(key);
  for (const key of t.storLast.getKeys({ snapshot: false })) t.storLast.remove(key);
  // Keys sort by (address, height) and (address, slot, height): the last row of each run wins.
  for (const { key, value } of t.acct.getRange({ snapshot: false })) t.acctLast.put(key[0], [key[1], value]);
  for (const { key, value } of t.stor.getRange({ snapshot: false })) {
    t.storLast.put([key[0], key[1]], [key[2], value as Hex]);
  }
  t.meta.put("derived", DERIVED_VERSION);
}

/** The log tables derived from a block's logs: ready-to-serve text, match keys, address index. */
export function putLogIndex(t: Tables, height: number, logs: RpcLog[]): void {
  const n = logs.length;
  const parts: Buffer[] = [Buffer.alloc(4 + 4 * n), OPEN_BRACKET];
  const head = parts[0] as Buffer;
  head.writeUInt32LE(n, 0);
  let offset = 1;
  const byAddress = new Map<string, number[]>();
  const addresses: string[] = [];
  const topics: string[][] = [];
  logs.forEach((log, i) => {
    if (i > 0) {
      parts.push(COMMA);
      offset += 1;
    }
    head.writeUInt32LE(offset, 4 + 4 * i);
    const text = Buffer.from(JSON.stringify(log));
    parts.push(text);
    offset += text.length;
    const a = log.address.toLowerCase();
    addresses.push(a);
    topics.push(log.topics.map((x) => x.toLowerCase()));
    const list = byAddress.get(a);
    if (list) list.push(i);
    else byAddress.set(a, [i]);
  });
  parts.push(CLOSE_BRACKET);
  t.logText.put(height, Buffer.concat(parts));
  t.logKeys.put(height, { a: addresses, t: topics });
  for (const [a, indexes] of byAddress) t.logAddr.put([a, height], indexes);
}
