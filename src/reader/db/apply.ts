/**
 * Writing blocks and state into the reader database, and the checks before: a block must extend
 * the applied chain, and every pre-value of its diff must be the state the reader holds. Each
 * function runs inside the caller's write transaction.
 */
import { keccak256 } from "viem";
import {
  type AccountState,
  type Bundle,
  BundleError,
  EMPTY_CODE_HASH,
  type RpcLog,
  type SnapshotAccount,
  type StateDump,
} from "../../format/index.ts";
import { type Hex, lower } from "../../util/hex.ts";
import type { ChainInfo, ChainView } from "../../view/index.ts";
import { putLogIndex } from "./derived.ts";
import type { Progress } from "./records.ts";
import { type AccountRow, headerOf, type Tables, toRow } from "./tables.ts";

/** History row and latest row of an account, always written together. */
export function putAccount(t: Tables, addr: string, height: number, row: AccountRow): void {
  t.acct.put([addr, height], row);
  t.acctLast.put(addr, [height, row]);
}

/** History row and latest row of a storage slot, always written together. */
export function putSlot(t: Tables, addr: string, slot: string, height: number, value: Hex): void {
  t.stor.put([addr, slot, height], value);
  t.storLast.put([addr, slot], [height, value]);
}

/** The full state of an initial-state dump, as state at `height`. */
export function writeState(t: Tables, state: StateDump, height: number): void {
  for (const [addr, a] of Object.entries(state.accounts)) {
    const ch = a.code === "0x" ? EMPTY_CODE_HASH : keccak256(a.code);
    if (a.code !== "0x") t.codes.put(ch, a.code);
    const empty = BigInt(a.balance) === 0n && BigInt(a.nonce) === 0n && a.code === "0x";
    putAccount(t, addr, height, empty ? null : { b: a.balance, n: a.nonce, c: ch });
    for (const [slot, v] of Object.entries(a.storage)) putSlot(t, addr, slot, height, v as Hex);
  }
}

/** One snapshot chunk's accounts, storage and codes, as state at `height`. */
export function writeChunk(t: Tables, accounts: SnapshotAccount[], height: number): void {
  for (const [addr, b, n, ch, code, slots] of accounts) {
    if (b !== "") putAccount(t, addr, height, { b: b as Hex, n: n as Hex, c: ch as Hex });
    if (code && !t.codes.doesExist(ch)) t.codes.put(ch, code);
    for (const [slot, v] of slots) putSlot(t, addr, slot, height, v as Hex);
  }
}

/**
 * Refuses block `height` unless it extends the applied chain: the next height with the applied
 * tip as its parent, or the chain's first block when nothing is applied.
 */
export function checkExtends(
  info: ChainInfo,
  prog: Progress | undefined,
  bundle: Bundle,
  height: number,
): void {
  const extendsTip = prog
    ? height === prog.height + 1 && bundle.block.parentHash === prog.hash
    : height === info.earliest;
  if (extendsTip) return;
  throw new BundleError(
    "BUNDLE_PARENT_MISMATCH",
    prog
      ? `block ${height} does not extend applied block ${prog.height}`
      : `first block must be ${info.earliest}, got ${height}`,
    { height, parentHash: bundle.block.parentHash, applied: prog?.hash },
  );
}

/** Refuses a block whose diff's pre-values are not the state held after block `height − 1`. */
export function checkPreState(
  view: Pick<ChainView, "account" | "storage">,
  bundle: Bundle,
  height: number,
): void {
  for (const [addr, d] of Object.entries(bundle.diff.accounts) as [Hex, { pre: AccountState | null }][]) {
    const held = view.account(addr, height - 1);
    if (held === undefined) continue;
    const pre = d.pre;
    const same =
      held === null || pre === null
        ? held === pre
        : held.balance === pre.balance && held.nonce === pre.nonce && held.codeHash === pre.codeHash;
    if (!same) {
      throw new BundleError(
        "BUNDLE_PRE_MISMATCH",
        `block ${height}: pre-state of ${addr} disagrees with held state`,
        {
          height,
          address: addr,
          held,
          pre,
        },
      );
    }
  }
  for (const [addr, slots] of Object.entries(bundle.diff.storage) as [Hex, Record<Hex, [Hex, Hex]>][]) {
    for (const [slot, [pre]] of Object.entries(slots) as [Hex, [Hex, Hex]][]) {
      const held = view.storage(addr, slot, height - 1);
      if (held !== undefined && held !== pre) {
        throw new BundleError(
          "BUNDLE_PRE_MISMATCH",
          `block ${height}: pre-value of ${addr}[${slot}] disagrees`,
          {
            height,
            address: addr,
            slot,
            held,
            pre,
          },
        );
      }
    }
  }
}

/**
 * Writes block `height` into every table: the ready-to-serve JSON of the block, its transactions
 * and receipts, its logs and their indexes, the diff's post-values as history rows at `height`,
 * new codes, and the keys the diff wrote (what unwinding it must undo).
 */
export function writeBlock(t: Tables, bundle: Bundle, height: number): void {
  const block = bundle.block;
  const hash = lower(block.hash);
  t.blockFull.put(height, JSON.stringify(block));
  t.blockLite.put(height, JSON.stringify({ ...block, transactions: block.transactions.map((x) => x.hash) }));
  t.blockRcpts.put(height, JSON.stringify(bundle.receipts));
  t.blockHead.put(height, headerOf(block));
  const logs: RpcLog[] = [];
  for (const r of bundle.receipts) for (const l of r.logs) logs.push(l);
  t.logs.put(height, logs);
  putLogIndex(t, height, logs);
  t.blockInfo.put(height, {
    hash,
    parentHash: block.parentHash,
    bloom: (block.logsBloom as Hex) ?? "0x",
    txCount: block.transactions.length,
  });
  t.byHash.put(hash, height);
  block.transactions.forEach((tx, i) => {
    t.txLoc.put(lower(tx.hash), [height, i]);
    t.txJson.put([height, i], JSON.stringify(tx));
    t.rcptJson.put([height, i], JSON.stringify(bundle.receipts[i]));
  });
  for (const [addr, d] of Object.entries(bundle.diff.accounts)) putAccount(t, addr, height, toRow(d.post));
  for (const [addr, slots] of Object.entries(bundle.diff.storage)) {
    for (const [slot, [, post]] of Object.entries(slots)) putSlot(t, addr, slot, height, post);
  }
  for (const [ch, code] of Object.entries(bundle.diff.codes)) {
    if (!t.codes.doesExist(ch)) t.codes.put(ch, code);
  }
  const slots: [string, string][] = [];
  for (const [addr, m] of Object.entries(bundle.diff.storage))
    for (const slot of Object.keys(m)) slots.push([addr, slot]);
  t.blockKeys.put(height, { a: Object.keys(bundle.diff.accounts), s: slots });
}
