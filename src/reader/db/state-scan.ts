/**
 * The full state at a height, streamed from the history rows in address order (what an
 * archiver's snapshot is built from): for each address its newest account row and slot rows at or
 * below the height. It walks every row once and holds one address's slots at a time.
 */
import { EMPTY_CODE_HASH, type SnapshotAccount } from "../../format/index.ts";
import type { AccountRow, Tables } from "./tables.ts";

/** Newest account row at or below `height`, per address, in address order. */
function* latestAccounts(t: Tables, height: number): Generator<[string, AccountRow]> {
  let cur: string | undefined;
  let best: AccountRow | undefined;
  for (const { key, value } of t.acct.getRange({})) {
    const [a, h] = key as [string, number];
    if (a !== cur) {
      if (cur !== undefined && best !== undefined) yield [cur, best];
      cur = a;
      best = undefined;
    }
    if (h <= height) best = value;
  }
  if (cur !== undefined && best !== undefined) yield [cur, best];
}

/** Newest slot row at or below `height`, per (address, slot), in key order. */
function* latestSlots(t: Tables, height: number, zeroSlots: boolean): Generator<[string, string, string]> {
  let cur: [string, string] | undefined;
  let best: string | undefined;
  const emit = function* (): Generator<[string, string, string]> {
    if (cur && best !== undefined && (zeroSlots || BigInt(best) !== 0n)) yield [cur[0], cur[1], best];
  };
  for (const { key, value } of t.stor.getRange({})) {
    const [a, s, h] = key as [string, string, number];
    if (!cur || a !== cur[0] || s !== cur[1]) {
      yield* emit();
      cur = [a, s];
      best = undefined;
    }
    if (h <= height) best = value;
  }
  yield* emit();
}

/**
 * The state after block `height` as snapshot entries in address order; `zeroSlots` keeps slots
 * holding zero (an anvil chain's, see `anvilTrie`). An address with storage but no account is
 * an entry with an empty balance ("no account").
 */
export function* stateAt(
  t: Tables,
  height: number,
  opts: { zeroSlots: boolean },
): Generator<SnapshotAccount> {
  const accounts = latestAccounts(t, height);
  const slots = latestSlots(t, height, opts.zeroSlots);
  let a = accounts.next();
  let s = slots.next();
  while (!a.done || !s.done) {
    const addr =
      !a.done && (s.done || a.value[0] <= s.value[0]) ? a.value[0] : (s.value as [string, string, string])[0];
    let row: AccountRow = null;
    if (!a.done && a.value[0] === addr) {
      row = a.value[1];
      a = accounts.next();
    }
    const storage: [string, string][] = [];
    while (!s.done && s.value[0] === addr) {
      storage.push([s.value[1], s.value[2]]);
      s = slots.next();
    }
    if (!row && storage.length === 0) continue;
    const code = row && row.c !== EMPTY_CODE_HASH ? (t.codes.get(row.c) ?? null) : null;
    yield row ? [addr, row.b, row.n, row.c, code, storage] : [addr, "", "", "", null, storage];
  }
}

/** Addresses of the contracts that transactions of blocks `[from, to]` created (receipts' `contractAddress`). */
export function* createdContracts(t: Tables, from: number, to: number): Generator<string> {
  for (const { value } of t.blockRcpts.getRange({ start: from, end: to + 1 })) {
    if (!value.includes('"contractAddress":"0x')) continue;
    for (const r of JSON.parse(value) as { contractAddress?: string | null }[]) {
      if (typeof r.contractAddress === "string") yield r.contractAddress.toLowerCase();
    }
  }
}
