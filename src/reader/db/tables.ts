/**
 * The reader database's named tables (LMDB), opened once and shared by every part of `ChainDb`:
 * the view's reads, applying blocks, unwinding them, state history and the sync records.
 */
import { type Database, open, type RootDatabase } from "lmdb";
import type { AccountState, RpcBlock, RpcLog } from "../../format/index.ts";
import type { Hex } from "../../util/hex.ts";
import type { BlockHeader } from "../../view/index.ts";

/** Hash, parent, bloom and transaction count of a block, without parsing it. */
export interface BlockInfo {
  hash: Hex;
  parentHash: Hex;
  bloom: Hex;
  txCount: number;
}

/** An account history row: balance, nonce and code hash, or null for no account. */
export type AccountRow = { b: Hex; n: Hex; c: Hex } | null;

/** A "latest value" row: the height the value was set at, and the value (see `acctLast`). */
export type Latest<V> = [height: number, value: V];

/**
 * Version of the derived tables (`acctLast`, `storLast`, `blockHead`, `logText`, `logKeys`,
 * `logAddr`), recorded in `meta` under `derived`. A database without it (written before the
 * tables existed) gets them rebuilt from the primary rows when opened for writing; until then
 * reads use the primary rows only (history ranges, stored blocks, `blockLogs`).
 */
export const DERIVED_VERSION = 1;

/** The environment and its named databases. */
export class Tables {
  readonly env: RootDatabase;
  /** The chain descriptor, the progress marker and the operator and sync records. */
  readonly meta: Database;
  /** height → the block as the upstream returned it (full transactions), JSON text. */
  readonly blockFull: Database<string, number>;
  /** height → the block with transaction hashes, JSON text. */
  readonly blockLite: Database<string, number>;
  /** height → the block's receipts, JSON text. */
  readonly blockRcpts: Database<string, number>;
  readonly blockInfo: Database<BlockInfo, number>;
  /** height → the block's header fields (derived from `blockLite`). */
  readonly blockHead: Database<BlockHeader, number>;
  /** height → the block's logs. */
  readonly logs: Database<RpcLog[], number>;
  /**
   * height → the block's logs as JSON bytes: a u32 count n, n u32 byte offsets of each log in the
   * JSON, then the JSON array in UTF-8 (derived from `blockLogs`).
   */
  readonly logText: Database<Buffer, number>;
  /** height → each log's address and topics, lower-case (derived from `blockLogs`). */
  readonly logKeys: Database<{ a: string[]; t: string[][] }, number>;
  /** [address, height] → indexes of the address's logs in the block (derived from `blockLogs`). */
  readonly logAddr: Database<number[], [string, number]>;
  readonly byHash: Database<number, string>;
  readonly txLoc: Database<[number, number], string>;
  readonly txJson: Database<string, [number, number]>;
  readonly rcptJson: Database<string, [number, number]>;
  /** [address, height] → the account after that block. */
  readonly acct: Database<AccountRow, [string, number]>;
  /** [address, slot, height] → the slot's value after that block. */
  readonly stor: Database<string, [string, string, number]>;
  readonly codes: Database<string, string>;
  /** height → the accounts and slots the block's diff wrote (what unwinding it must undo). */
  readonly blockKeys: Database<{ a: string[]; s: [string, string][] }, number>;
  /** address → [height, row] of its newest history row (derived from `acct`). */
  readonly acctLast: Database<Latest<AccountRow>, string>;
  /** [address, slot] → [height, value] of its newest history row (derived from `stor`). */
  readonly storLast: Database<Latest<Hex>, [string, string]>;

  constructor(path: string, readOnly: boolean) {
    this.env = open({ path, maxDbs: 32, readOnly });
    const str = { encoding: "string" as const };
    this.meta = this.env.openDB({ name: "meta" });
    this.blockFull = this.env.openDB({ name: "blockFull", keyEncoding: "uint32", ...str });
    this.blockLite = this.env.openDB({ name: "blockLite", keyEncoding: "uint32", ...str });
    this.blockRcpts = this.env.openDB({ name: "blockRcpts", keyEncoding: "uint32", ...str });
    this.blockInfo = this.env.openDB({ name: "blockInfo", keyEncoding: "uint32" });
    this.blockHead = this.env.openDB({ name: "blockHead", keyEncoding: "uint32" });
    this.logs = this.env.openDB({ name: "blockLogs", keyEncoding: "uint32" });
    this.logText = this.env.openDB({ name: "logText", keyEncoding: "uint32", encoding: "binary" });
    this.logKeys = this.env.openDB({ name: "logKeys", keyEncoding: "uint32" });
    this.logAddr = this.env.openDB({ name: "logAddr" });
    this.byHash = this.env.openDB({ name: "byHash" });
    this.txLoc = this.env.openDB({ name: "txLoc" });
    this.txJson = this.env.openDB({ name: "txJson", ...str });
    this.rcptJson = this.env.openDB({ name: "rcptJson", ...str });
    this.acct = this.env.openDB({ name: "acct" });
    this.stor = this.env.openDB({ name: "stor", ...str });
    this.codes = this.env.openDB({ name: "codes", ...str });
    this.acctLast = this.env.openDB({ name: "acctLast" });
    this.blockKeys = this.env.openDB({ name: "blockKeys", keyEncoding: "uint32" });
    this.storLast = this.env.openDB({ name: "storLast" });
  }

  /** Runs `fn` in one write transaction (its result must not be a promise). */
  write(fn: () => void): void {
    this.env.transactionSync(fn);
  }
}

export function toRow(a: AccountState | null): AccountRow {
  return a ? { b: a.balance, n: a.nonce, c: a.codeHash } : null;
}

export function fromRow(r: AccountRow): AccountState | null {
  return r ? { balance: r.b, nonce: r.n, codeHash: r.c } : null;
}

/** A block's header fields: the block without its transactions. */
export function headerOf(block: RpcBlock): BlockHeader {
  const { transactions: _, ...header } = block;
  return header;
}

/** A storage key as a 32-byte lower-case word. */
export function normaliseSlot(slot: string): Hex {
  const h = slot.slice(2).toLowerCase().replace(/^0+/, "");
  return `0x${h.padStart(64, "0")}`;
}
