import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import { keccak256 } from "viem";
import {
  type AccountState,
  type Bundle,
  BundleError,
  DEFAULT_REORG_MAX,
  type HeadRecord,
  type RpcBlock,
  type RpcLog,
  type SnapshotAccount,
  type StateDump,
} from "../format/index.ts";
import { crashPoint } from "../util/crash.ts";
import { CommonError } from "../util/errors.ts";
import { type Hex, lower } from "../util/hex.ts";
import {
  type BlockHeader,
  type BlockLogKeys,
  type BlockLogText,
  type ChainInfo,
  type ChainTip,
  type ChainView,
  type HistoryMode,
  RawJson,
  type SyncInfo,
} from "../view/index.ts";

const EMPTY_CODE_HASH: Hex = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
const ZERO_WORD: Hex = `0x${"0".repeat(64)}`;

/** Options of the reader's local database. */
export interface ChainDbOptions {
  /** Directory of the LMDB environment. */
  path: string;
  /** Chain id this database holds; opening it for another chain fails. */
  chainId: number;
  /** Open read-only (RPC worker processes). */
  readOnly?: boolean;
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

/** The progress marker, written in the same transaction as the block it names. */
export interface Progress extends ChainTip {
  writeTs: number;
}

interface BlockInfo {
  hash: Hex;
  parentHash: Hex;
  bloom: Hex;
  txCount: number;
}

type AccountRow = { b: Hex; n: Hex; c: Hex } | null;

/** A "latest value" row: the height the value was set at, and the value (see `acctLast`). */
type Latest<V> = [height: number, value: V];

/**
 * Version of the derived tables (`acctLast`, `storLast`, `blockHead`, `logText`, `logKeys`,
 * `logAddr`), recorded in `meta` under `derived`. A database without it (written before the
 * tables existed) gets them rebuilt from the primary rows when opened for writing; until then
 * reads use the primary rows only (history ranges, stored blocks, `blockLogs`).
 */
const DERIVED_VERSION = 1;

const OPEN_BRACKET = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE_BRACKET = Buffer.from("]");

function toRow(a: AccountState | null): AccountRow {
  return a ? { b: a.balance, n: a.nonce, c: a.codeHash } : null;
}

function fromRow(r: AccountRow): AccountState | null {
  return r ? { balance: r.b, nonce: r.n, codeHash: r.c } : null;
}

/**
 * The reader's local database (LMDB). Blocks, transactions and receipts are kept as the JSON
 * text the upstream returned, ready to serve; state is kept as history rows keyed by
 * (address, height) and (address, slot, height), so the state after any held block is one
 * reverse range read. Beside the history, `acctLast` and `storLast` hold each account's and
 * slot's newest value with the height it was set at, so a read at or above that height (the
 * common case: `latest`) is one `get`; older heights fall back to the history range. Each block is
 * applied in one write transaction together with the progress marker, so a crash at any moment
 * leaves the database at a block boundary.
 *
 * Blocks also get their header apart (`blockHead`, for the EVM and fee answers) and their logs as
 * ready-to-serve text with match keys and an address index (`logText`, `logKeys`, `logAddr`, for
 * eth_getLogs), written in the block's transaction.
 *
 * All these tables are derived data: the newest history row of an account or slot is its latest
 * row, the others follow from the block and its logs, so `rebuildDerived()` restores them from the
 * primary rows alone. Unwinding block h (issue 3) must, in the same transaction as the rows it
 * deletes: delete h's `blockHead`, `logText`, `logKeys` rows and its `logAddr` rows (the addresses
 * of h's logs), and reset the latest row of every account and slot in h's diff to the newest
 * remaining history row, or delete it when none is left (the diff names exactly the keys whose
 * latest row may point at h).
 */
export class ChainDb implements ChainView {
  readonly chainId: number;
  private readonly env: RootDatabase;
  private readonly meta: Database;
  private readonly blockFull: Database<string, number>;
  private readonly blockLite: Database<string, number>;
  private readonly blockRcpts: Database<string, number>;
  private readonly blockInfo: Database<BlockInfo, number>;
  private readonly blockHead: Database<BlockHeader, number>;
  private readonly logsDb: Database<RpcLog[], number>;
  /**
   * height → the block's logs as JSON bytes: a u32 count n, n u32 byte offsets of each log in the
   * JSON, then the JSON array in UTF-8 (derived from `blockLogs`).
   */
  private readonly logText: Database<Buffer, number>;
  /** height → each log's address and topics, lower-case (derived from `blockLogs`). */
  private readonly logKeys: Database<{ a: string[]; t: string[][] }, number>;
  /** [address, height] → indexes of the address's logs in the block (derived from `blockLogs`). */
  private readonly logAddr: Database<number[], [string, number]>;
  private readonly byHash: Database<number, string>;
  private readonly txLoc: Database<[number, number], string>;
  private readonly txJsonDb: Database<string, [number, number]>;
  private readonly rcptJson: Database<string, [number, number]>;
  private readonly acct: Database<AccountRow, [string, number]>;
  private readonly stor: Database<string, [string, string, number]>;
  private readonly codes: Database<string, string>;
  /** height → the accounts and slots the block's diff wrote (what unwinding it must undo). */
  private readonly blockKeys: Database<{ a: string[]; s: [string, string][] }, number>;
  /** address → [height, row] of its newest history row (derived from `acct`). */
  private readonly acctLast: Database<Latest<AccountRow>, string>;
  /** [address, slot] → [height, value] of its newest history row (derived from `stor`). */
  private readonly storLast: Database<Latest<Hex>, [string, string]>;
  /** True when the derived tables are complete (see `DERIVED_VERSION`). */
  private derivedReady: boolean;
  private info: ChainInfo | undefined;
  private progressCache: Progress | undefined;
  /** The marker last decoded by a handle that does not write, with its bytes. */
  private progressSeen: { raw: Buffer; value: Progress } | undefined;
  /** The sync position last decoded, with its bytes (read on every gated request). */
  private syncSeen: { raw: Buffer; value: SyncInfo } | undefined;
  private history: HistoryMode | undefined;

  constructor(opts: ChainDbOptions) {
    this.chainId = opts.chainId;
    this.env = open({ path: opts.path, maxDbs: 32, readOnly: opts.readOnly ?? false });
    const str = { encoding: "string" as const };
    this.meta = this.env.openDB({ name: "meta" });
    this.blockFull = this.env.openDB({ name: "blockFull", keyEncoding: "uint32", ...str });
    this.blockLite = this.env.openDB({ name: "blockLite", keyEncoding: "uint32", ...str });
    this.blockRcpts = this.env.openDB({ name: "blockRcpts", keyEncoding: "uint32", ...str });
    this.blockInfo = this.env.openDB({ name: "blockInfo", keyEncoding: "uint32" });
    this.blockHead = this.env.openDB({ name: "blockHead", keyEncoding: "uint32" });
    this.logsDb = this.env.openDB({ name: "blockLogs", keyEncoding: "uint32" });
    this.logText = this.env.openDB({ name: "logText", keyEncoding: "uint32", encoding: "binary" });
    this.logKeys = this.env.openDB({ name: "logKeys", keyEncoding: "uint32" });
    this.logAddr = this.env.openDB({ name: "logAddr" });
    this.byHash = this.env.openDB({ name: "byHash" });
    this.txLoc = this.env.openDB({ name: "txLoc" });
    this.txJsonDb = this.env.openDB({ name: "txJson", ...str });
    this.rcptJson = this.env.openDB({ name: "rcptJson", ...str });
    this.acct = this.env.openDB({ name: "acct" });
    this.stor = this.env.openDB({ name: "stor", ...str });
    this.codes = this.env.openDB({ name: "codes", ...str });
    this.acctLast = this.env.openDB({ name: "acctLast" });
    this.blockKeys = this.env.openDB({ name: "blockKeys", keyEncoding: "uint32" });
    this.storLast = this.env.openDB({ name: "storLast" });
    this.info = this.meta.get("chain") as ChainInfo | undefined;
    if (this.info && this.info.chainId !== opts.chainId) {
      throw new CommonError("CONFIG_INVALID", `database at ${opts.path} holds chain ${this.info.chainId}`, {
        path: opts.path,
      });
    }
    this.derivedReady = this.meta.get("derived") === DERIVED_VERSION;
    if (!this.derivedReady && !opts.readOnly) {
      // A new database, or one written before the latest tables existed: derive them.
      this.env.transactionSync(() => this.rebuildDerived());
      this.derivedReady = true;
    }
  }

  /**
   * Rebuilds the derived tables and marks them complete: `acctLast` and `storLast` from the history
   * rows (the newest row of each account and slot), `blockHead` from the stored blocks, and the log
   * tables from `blockLogs`. Runs inside the caller's write transaction.
   */
  private rebuildDerived(): void {
    for (const { key, value } of this.logsDb.getRange({ snapshot: false })) {
      if (!this.logText.doesExist(key)) this.putLogIndex(key, value);
    }
    for (const { key, value } of this.blockLite.getRange({ snapshot: false })) {
      if (!this.blockHead.doesExist(key)) this.blockHead.put(key, headerOf(JSON.parse(value) as RpcBlock));
    }
    for (const key of this.acctLast.getKeys({ snapshot: false })) this.acctLast.remove(key);
    for (const key of this.storLast.getKeys({ snapshot: false })) this.storLast.remove(key);
    // Keys sort by (address, height) and (address, slot, height): the last row of each run wins.
    for (const { key, value } of this.acct.getRange({ snapshot: false })) {
      this.acctLast.put(key[0], [key[1], value]);
    }
    for (const { key, value } of this.stor.getRange({ snapshot: false })) {
      this.storLast.put([key[0], key[1]], [key[2], value as Hex]);
    }
    this.meta.put("derived", DERIVED_VERSION);
  }

  /**
   * The chain descriptor of the database at `path` without knowing its chain id, or undefined
   * when there is no initialised database there.
   */
  static async readInfo(path: string): Promise<ChainInfo | undefined> {
    if (!existsSync(join(path, "data.mdb"))) return undefined;
    const env = open({ path, maxDbs: 32, readOnly: true });
    try {
      return env.openDB({ name: "meta" }).get("chain") as ChainInfo | undefined;
    } finally {
      await env.close();
    }
  }

  /** The chain descriptor, once initialised. */
  chainInfo(): ChainInfo | undefined {
    // A handle opened before another process initialised the database learns it here.
    this.info ??= this.meta.get("chain") as ChainInfo | undefined;
    return this.info;
  }

  /** The progress marker (last applied block), if any. */
  progress(): Progress | undefined {
    if (this.progressCache) return this.progressCache;
    // Another process writes (this handle is read-only, or not written to yet): read the marker
    // each time, decoding it only when its bytes changed (every request asks for the tip).
    const raw = this.meta.getBinary("progress");
    if (raw === undefined) return undefined;
    const seen = this.progressSeen;
    if (seen?.raw.equals(raw)) return seen.value;
    const value = this.meta.get("progress") as Progress | undefined;
    if (value !== undefined) this.progressSeen = { raw, value };
    return value;
  }

  /**
   * Records the chain descriptor and, when given, the full state at `earliest`, in one
   * transaction. Called once, before the first block is applied.
   */
  initialise(info: ChainInfo, state: StateDump | null): void {
    if (this.chainInfo()) throw new CommonError("INTERNAL", "database already initialised");
    this.env.transactionSync(() => {
      if (state) {
        for (const [addr, a] of Object.entries(state.accounts)) {
          const ch = a.code === "0x" ? EMPTY_CODE_HASH : keccak256(a.code);
          if (a.code !== "0x") this.codes.put(ch, a.code);
          const empty = BigInt(a.balance) === 0n && BigInt(a.nonce) === 0n && a.code === "0x";
          this.putAccount(addr, info.earliest, empty ? null : { b: a.balance, n: a.nonce, c: ch });
          for (const [slot, v] of Object.entries(a.storage))
            this.putSlot(addr, slot, info.earliest, v as Hex);
        }
      }
      this.meta.put("chain", info);
    });
    this.info = info;
  }

  /**
   * Verifies and applies one block in one transaction with the progress marker. Refuses a block
   * that does not extend the applied chain, or whose pre-state disagrees with the held state.
   */
  applyBlock(bundle: Bundle, rec: HeadRecord): void {
    const info = this.chainInfo();
    if (!info) throw new CommonError("INTERNAL", "database not initialised");
    const prog = this.progress();
    const height = rec.height;
    if (prog) {
      if (height !== prog.height + 1 || bundle.block.parentHash !== prog.hash) {
        throw new BundleError(
          "BUNDLE_PARENT_MISMATCH",
          `block ${height} does not extend applied block ${prog.height}`,
          {
            height,
            parentHash: bundle.block.parentHash,
            applied: prog.hash,
          },
        );
      }
    } else if (height !== info.earliest) {
      throw new BundleError("BUNDLE_PARENT_MISMATCH", `first block must be ${info.earliest}, got ${height}`, {
        height,
      });
    }
    if (height > info.earliest) this.checkPreState(bundle, height);
    const next: Progress = {
      height,
      hash: rec.hash,
      writeTs: rec.writeTs,
      safe: Math.min(rec.safe, height),
      finalized: Math.min(rec.finalized, height),
    };
    this.env.transactionSync(() => {
      this.writeBlock(bundle, height);
      this.pruneHistory(height);
      this.meta.put("progress", next);
    });
    this.progressCache = next;
  }

  // ---- staged sync (src/sync): snapshot restore, batch apply, history mode, sync position ----

  /** The sync position (see `SyncInfo`); undefined for a database no syncer has written. */
  syncInfo(): SyncInfo | undefined {
    const raw = this.meta.getBinary("sync");
    if (raw === undefined) return undefined;
    const seen = this.syncSeen;
    if (seen?.raw.equals(raw)) return seen.value;
    const value = this.meta.get("sync") as SyncInfo;
    this.syncSeen = { raw: Buffer.from(raw), value };
    return value;
  }

  /** Records the sync position (and, when given, a stage cursor) in one transaction. */
  setSyncInfo(info: SyncInfo, cursor?: { name: string; value: unknown }): void {
    this.env.transactionSync(() => {
      this.meta.put("sync", info);
      if (cursor) this.meta.put(`cursor:${cursor.name}`, cursor.value);
    });
  }

  /** A stage cursor written with `setSyncInfo` or `restoreChunk`. */
  cursor<T>(name: string): T | undefined {
    return this.meta.get(`cursor:${name}`) as T | undefined;
  }

  /** The history mode; `archive` for a database that never set one. */
  historyMode(): HistoryMode {
    this.history ??= (this.meta.get("history") as HistoryMode | undefined) ?? { mode: "archive", blocks: 0 };
    return this.history;
  }

  /** Sets the history mode of a new database (before anything is applied). */
  setHistoryMode(h: HistoryMode): void {
    // A callback returning put()'s promise would make this an open-ended transaction: no return.
    this.env.transactionSync(() => {
      this.meta.put("history", h);
    });
    this.history = h;
  }

  /** Lowest height whose state is answered: `earliest()`, or in `full` mode tip − N when higher. */
  stateFrom(): number {
    const h = this.historyMode();
    const earliest = this.earliest();
    if (h.mode !== "full") return earliest;
    const tip = this.progress()?.height ?? earliest;
    // Never below what was pruned, even after a reorg lowered the tip.
    const pruned = (this.meta.get("prunedTo") as number | undefined) ?? earliest;
    return Math.max(earliest, tip - h.blocks, pruned);
  }

  /**
   * Writes one snapshot chunk's accounts, storage and codes as state at `height`, with the
   * CHECKPOINT cursor, in one transaction (a restore resumes at the first chunk not written).
   */
  restoreChunk(accounts: SnapshotAccount[], height: number, cursor: unknown): void {
    this.env.transactionSync(() => {
      for (const [addr, b, n, ch, code, slots] of accounts) {
        if (b !== "") this.putAccount(addr, height, { b: b as Hex, n: n as Hex, c: ch as Hex });
        if (code && !this.codes.doesExist(ch)) this.codes.put(ch, code);
        for (const [slot, v] of slots) this.putSlot(addr, slot, height, v as Hex);
      }
      this.meta.put("cursor:checkpoint", cursor);
    });
  }

  /**
   * Ends a snapshot restore: records the chain descriptor (earliest = the snapshot height, state
   * complete) and writes the snapshot's block with the progress marker and the sync position, in
   * one transaction. The block's post-values are the snapshot's own values at that height.
   */
  finishRestore(info: ChainInfo, bundle: Bundle, rec: HeadRecord, sync: SyncInfo): void {
    if (this.chainInfo()) throw new CommonError("INTERNAL", "database already initialised");
    const next: Progress = {
      height: rec.height,
      hash: rec.hash,
      writeTs: rec.writeTs,
      safe: Math.min(rec.safe, rec.height),
      finalized: Math.min(rec.finalized, rec.height),
    };
    this.env.transactionSync(() => {
      this.meta.put("chain", info);
      this.writeBlock(bundle, rec.height);
      this.meta.put("progress", next);
      this.meta.put("sync", sync);
    });
    this.info = info;
    this.progressCache = next;
  }

  /**
   * Verifies and applies consecutive blocks in ONE transaction with the progress marker and the
   * sync position (BACKFILL: many blocks per commit). Blocks at or below `compactBelow` keep only
   * each key's newest history row (history mode `full`: their older rows will never be asked).
   */
  applyBlocks(
    blocks: { bundle: Bundle; rec: HeadRecord }[],
    opts: { compactBelow?: number; sync?: SyncInfo },
  ): void {
    const info = this.chainInfo();
    if (!info) throw new CommonError("INTERNAL", "database not initialised");
    const last = blocks[blocks.length - 1]?.rec;
    if (!last) return;
    const compactBelow = opts.compactBelow ?? -1;
    let next: Progress | undefined;
    const before = this.progressCache;
    try {
      this.applyBlocksTxn(blocks, info, compactBelow, opts.sync, (p) => {
        next = p;
      });
    } catch (err) {
      // The transaction rolled back: so does the cached marker.
      this.progressCache = before;
      throw err;
    }
    this.progressCache = next;
  }

  private applyBlocksTxn(
    blocks: { bundle: Bundle; rec: HeadRecord }[],
    info: ChainInfo,
    compactBelow: number,
    sync: SyncInfo | undefined,
    done: (p: Progress | undefined) => void,
  ): void {
    this.env.transactionSync(() => {
      let prog = this.progress();
      for (const { bundle, rec } of blocks) {
        const height = rec.height;
        if (
          prog
            ? height !== prog.height + 1 || bundle.block.parentHash !== prog.hash
            : height !== info.earliest
        ) {
          throw new BundleError(
            "BUNDLE_PARENT_MISMATCH",
            `block ${height} does not extend the applied chain`,
            {
              height,
              parentHash: bundle.block.parentHash,
              applied: prog?.hash,
            },
          );
        }
        if (height > info.earliest) this.checkPreState(bundle, height);
        if (height <= compactBelow) {
          this.dropPreviousRows(bundle, height);
          this.meta.put("prunedTo", height);
        }
        this.writeBlock(bundle, height);
        this.pruneHistory(height);
        prog = {
          height,
          hash: rec.hash,
          writeTs: rec.writeTs,
          safe: Math.min(rec.safe, height),
          finalized: Math.min(rec.finalized, height),
        };
        // Later reads in this transaction see the new tip.
        this.progressCache = prog;
      }
      this.meta.put("progress", prog);
      if (sync) this.meta.put("sync", sync);
      done(prog);
    });
  }

  // The keys a block writes lose their previous history row (full-mode backfill far below the tip).
  private dropPreviousRows(bundle: Bundle, height: number): void {
    for (const addr of Object.keys(bundle.diff.accounts)) {
      const last = this.acctLast.get(addr);
      if (last && last[0] < height) this.acct.remove([addr, last[0]]);
    }
    for (const [addr, slots] of Object.entries(bundle.diff.storage)) {
      for (const slot of Object.keys(slots)) {
        const last = this.storLast.get([addr, slot]);
        if (last && last[0] < height) this.stor.remove([addr, slot, last[0]]);
      }
    }
  }

  /**
   * History mode `full`: once block `height` is applied, state is answered from height − N on.
   * Every key written at height − N drops its rows below that height (the row at height − N
   * answers from there); keys not written there keep theirs until they are.
   */
  private pruneHistory(height: number): void {
    const h = this.historyMode();
    if (h.mode !== "full") return;
    const s = height - h.blocks;
    if (s <= this.earliest()) return;
    const keys = this.blockKeys.get(s);
    if (!keys) return;
    this.meta.put("prunedTo", s);
    for (const addr of keys.a) {
      for (const key of this.acct.getKeys({ start: [addr], end: [addr, s], snapshot: false }))
        this.acct.remove(key);
    }
    for (const [addr, slot] of keys.s) {
      for (const key of this.stor.getKeys({ start: [addr, slot], end: [addr, slot, s], snapshot: false }))
        this.stor.remove(key);
    }
  }

  private checkPreState(bundle: Bundle, height: number): void {
    for (const [addr, d] of Object.entries(bundle.diff.accounts) as [Hex, { pre: AccountState | null }][]) {
      const held = this.account(addr, height - 1);
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
        const held = this.storage(addr, slot, height - 1);
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

  private writeBlock(bundle: Bundle, height: number): void {
    const block = bundle.block;
    const hash = lower(block.hash);
    this.blockFull.put(height, JSON.stringify(block));
    this.blockLite.put(
      height,
      JSON.stringify({ ...block, transactions: block.transactions.map((t) => t.hash) }),
    );
    this.blockRcpts.put(height, JSON.stringify(bundle.receipts));
    this.blockHead.put(height, headerOf(block));
    const logs: RpcLog[] = [];
    for (const r of bundle.receipts) for (const l of r.logs) logs.push(l);
    this.logsDb.put(height, logs);
    this.putLogIndex(height, logs);
    this.blockInfo.put(height, {
      hash,
      parentHash: block.parentHash,
      bloom: (block.logsBloom as Hex) ?? "0x",
      txCount: block.transactions.length,
    });
    this.byHash.put(hash, height);
    block.transactions.forEach((tx, i) => {
      this.txLoc.put(lower(tx.hash), [height, i]);
      this.txJsonDb.put([height, i], JSON.stringify(tx));
      this.rcptJson.put([height, i], JSON.stringify(bundle.receipts[i]));
    });
    for (const [addr, d] of Object.entries(bundle.diff.accounts))
      this.putAccount(addr, height, toRow(d.post));
    for (const [addr, slots] of Object.entries(bundle.diff.storage)) {
      for (const [slot, [, post]] of Object.entries(slots)) this.putSlot(addr, slot, height, post);
    }
    for (const [ch, code] of Object.entries(bundle.diff.codes)) {
      if (!this.codes.doesExist(ch)) this.codes.put(ch, code);
    }
    const slots: [string, string][] = [];
    for (const [addr, m] of Object.entries(bundle.diff.storage))
      for (const slot of Object.keys(m)) slots.push([addr, slot]);
    this.blockKeys.put(height, { a: Object.keys(bundle.diff.accounts), s: slots });
  }

  /**
   * Switches to another branch: unwinds every applied block above `ancestor` (removing its block,
   * transactions, receipts, logs and state rows from every table, and restoring the latest rows
   * from history) and applies `blocks` (heights ancestor+1 …) in their place, all in ONE
   * transaction with the progress marker, so a crash leaves exactly one of the two branches.
   * Refuses blocks that do not link to the ancestor or whose pre-state disagrees.
   */
  reorg(ancestor: number, blocks: { bundle: Bundle; rec: HeadRecord }[]): { removedLogs: RpcLog[] } {
    const info = this.chainInfo();
    const prog = this.progress();
    if (!info || !prog) throw new CommonError("INTERNAL", "nothing applied to unwind");
    const floor = this.unwindFloor();
    if (ancestor < floor) {
      throw new BundleError(
        "BUNDLE_PARENT_MISMATCH",
        `cannot unwind below block ${floor} (the earliest block, or the oldest state a full-history reader keeps)`,
        { ancestor, floor },
      );
    }
    const ancestorHash = this.blockInfo.get(ancestor)?.hash;
    let parent = ancestorHash;
    blocks.forEach(({ bundle, rec }, i) => {
      if (rec.height !== ancestor + 1 + i || bundle.block.parentHash !== parent) {
        throw new BundleError(
          "BUNDLE_PARENT_MISMATCH",
          `block ${rec.height} does not link to the new branch`,
          {
            height: rec.height,
            parentHash: bundle.block.parentHash,
            expected: parent,
          },
        );
      }
      parent = rec.hash;
    });
    const removedLogs: RpcLog[] = [];
    let next: Progress | undefined;
    this.env.transactionSync(() => {
      for (let h = prog.height; h > ancestor; h--) removedLogs.unshift(...this.unwindBlock(h));
      for (const { bundle, rec } of blocks) {
        if (rec.height > info.earliest) this.checkPreState(bundle, rec.height);
        this.writeBlock(bundle, rec.height);
        crashPoint("reorg-apply");
      }
      const last = blocks[blocks.length - 1]?.rec;
      next = last
        ? {
            height: last.height,
            hash: last.hash,
            writeTs: last.writeTs,
            safe: Math.min(last.safe, last.height),
            finalized: Math.min(last.finalized, last.height),
          }
        : {
            height: ancestor,
            hash: ancestorHash as Hex,
            writeTs: prog.writeTs,
            safe: Math.min(prog.safe, ancestor),
            finalized: Math.min(prog.finalized, ancestor),
          };
      this.meta.put("progress", next);
    });
    this.progressCache = next;
    return { removedLogs };
  }

  /** The bounded unwind in progress (backtrack or switch reset), if any. */
  pendingUnwind(): PendingUnwind | undefined {
    return this.meta.get("unwind") as PendingUnwind | undefined;
  }

  /**
   * The lowest height the database can unwind to: the earliest block, or in `full` history mode
   * the oldest height whose state it still has (unwinding below it would need pruned rows).
   */
  unwindFloor(): number {
    const earliest = this.chainInfo()?.earliest ?? 0;
    if (this.historyMode().mode !== "full") return earliest;
    return Math.max(earliest, (this.meta.get("prunedTo") as number | undefined) ?? earliest);
  }

  /** The prefix switch waiting for verification, if any. */
  pendingSwitch(): PrefixSwitch | undefined {
    return this.meta.get("switch") as PrefixSwitch | undefined;
  }

  /**
   * Starts a backtrack to height `to` (kept): records it, then `continueUnwind` removes the blocks
   * above it in bounded, crash-safe steps. Refuses heights below the earliest block or above the
   * applied one.
   */
  startBacktrack(to: number): PendingUnwind {
    const info = this.chainInfo();
    const prog = this.progress();
    if (!info || !prog) throw new CommonError("INVALID_ARGUMENT", "nothing applied to backtrack");
    const floor = this.unwindFloor();
    if (to < floor || to > prog.height) {
      const why =
        floor > info.earliest
          ? `the oldest state this full-history reader keeps (${floor}; an archive reader keeps all)`
          : `the earliest block ${info.earliest}`;
      throw new CommonError(
        "INVALID_ARGUMENT",
        `backtrack height must be between ${why} and the applied ${prog.height}`,
        { to, earliest: info.earliest, floor, applied: prog.height },
      );
    }
    const pending: PendingUnwind = { to, reason: "backtrack" };
    // A block body: lmdb treats a callback that returns a promise (put's result) as asynchronous.
    this.env.transactionSync(() => {
      this.meta.put("unwind", pending);
    });
    return pending;
  }

  /**
   * Starts following writer line `prefix`: records the switch, moves the chain's prefix, and
   * starts an unwind to `applied − 2·reorgMax` (the NodeX seed's reset, a height that cannot have
   * forked). Until `finishSwitch`, nothing from `prefix` may be applied. A switch to the prefix
   * already followed does nothing and returns undefined.
   */
  startSwitch(prefix: string): PrefixSwitch | undefined {
    const info = this.chainInfo();
    if (!info) throw new CommonError("INTERNAL", "database not initialised");
    if (info.prefix === prefix) return undefined;
    const reorgMax = info.reorgMax ?? DEFAULT_REORG_MAX;
    const prog = this.progress();
    // Not below the oldest state kept (full history): the reset must be a height it can unwind to.
    const height = prog
      ? Math.min(prog.height, Math.max(this.unwindFloor(), prog.height - 2 * reorgMax))
      : -1;
    const sw: PrefixSwitch = { prefix, previous: info.prefix, height };
    if (prog) sw.hash = this.blockInfo.get(height)?.hash;
    const next: ChainInfo = { ...info, prefix };
    this.env.transactionSync(() => {
      this.meta.put("switch", sw);
      this.meta.put("chain", next);
      if (prog && height < prog.height) this.meta.put("unwind", { to: height, reason: "switch" });
    });
    this.info = next;
    return sw;
  }

  /** Records the chain's reorg window in a database written before it was recorded. */
  recordReorgMax(reorgMax: number): void {
    const info = this.chainInfo();
    if (!info) throw new CommonError("INTERNAL", "database not initialised");
    const next: ChainInfo = { ...info, reorgMax };
    this.env.transactionSync(() => {
      this.meta.put("chain", next);
    });
    this.info = next;
  }

  /** The switch was verified: blocks from the new prefix may be applied. */
  finishSwitch(): void {
    this.env.transactionSync(() => {
      this.meta.remove("switch");
    });
  }

  /**
   * Runs the pending unwind to its end, `blocksPerStep` blocks per transaction: each transaction
   * removes blocks from the top and moves the progress marker with them, so a crash leaves a
   * consistent database a little lower, and the pending record makes the next start finish the
   * job. At most `maxSteps` transactions per call (a serving process yields between them).
   * Returns the logs of the removed blocks, oldest first (for `logs` subscribers), and whether the
   * unwind is done.
   */
  continueUnwind(
    blocksPerStep = 16,
    maxSteps = Number.POSITIVE_INFINITY,
  ): { from: number; to: number; removedLogs: RpcLog[]; done: boolean } | undefined {
    const pending = this.pendingUnwind();
    if (!pending) return undefined;
    const first = this.progress();
    const removedLogs: RpcLog[] = [];
    for (let steps = 0; ; steps++) {
      if (steps >= maxSteps) {
        return { from: first?.height ?? pending.to, to: pending.to, removedLogs, done: false };
      }
      const prog = this.progress();
      if (!prog || prog.height <= pending.to) {
        this.env.transactionSync(() => {
          this.meta.remove("unwind");
        });
        break;
      }
      const stop = Math.max(pending.to, prog.height - Math.max(1, blocksPerStep));
      let next: Progress | undefined;
      const logs: RpcLog[] = [];
      this.env.transactionSync(() => {
        for (let h = prog.height; h > stop; h--) logs.unshift(...this.unwindBlock(h));
        const top = this.blockInfo.get(stop);
        if (!top) throw new CommonError("INTERNAL", `block ${stop} missing while unwinding`);
        next = {
          height: stop,
          hash: top.hash,
          writeTs: prog.writeTs,
          safe: Math.min(prog.safe, stop),
          finalized: Math.min(prog.finalized, stop),
        };
        this.meta.put("progress", next);
        if (stop === pending.to) this.meta.remove("unwind");
      });
      this.progressCache = next;
      removedLogs.unshift(...logs);
      crashPoint("unwind-step");
      if (stop === pending.to) break;
    }
    return { from: first?.height ?? pending.to, to: pending.to, removedLogs, done: true };
  }

  /** Removes block `h` from every table, inside the caller's transaction; returns its logs. */
  private unwindBlock(h: number): RpcLog[] {
    const info = this.blockInfo.get(h);
    const logs = this.logsDb.get(h) ?? [];
    const full = this.blockFull.get(h);
    if (full) {
      const block = JSON.parse(full) as RpcBlock;
      block.transactions.forEach((tx, i) => {
        const loc = this.txLoc.get(lower(tx.hash));
        if (loc && loc[0] === h) this.txLoc.remove(lower(tx.hash));
        this.txJsonDb.remove([h, i]);
        this.rcptJson.remove([h, i]);
      });
    }
    if (info && this.byHash.get(info.hash) === h) this.byHash.remove(info.hash);
    for (const db of [
      this.blockFull,
      this.blockLite,
      this.blockRcpts,
      this.blockInfo,
      this.blockHead,
      this.logsDb,
    ]) {
      db.remove(h);
    }
    this.logText.remove(h);
    this.logKeys.remove(h);
    for (const a of new Set(logs.map((l) => l.address.toLowerCase()))) this.logAddr.remove([a, h]);
    const keys = this.blockKeys.get(h);
    if (keys) {
      for (const addr of keys.a) {
        this.acct.remove([addr, h]);
        let restored = false;
        for (const { key, value } of this.acct.getRange({
          start: [addr, h - 1],
          end: [addr],
          reverse: true,
          limit: 1,
        })) {
          this.acctLast.put(addr, [key[1], value]);
          restored = true;
        }
        if (!restored) this.acctLast.remove(addr);
      }
      for (const [addr, slot] of keys.s) {
        this.stor.remove([addr, slot, h]);
        let restored = false;
        for (const { key, value } of this.stor.getRange({
          start: [addr, slot, h - 1],
          end: [addr, slot],
          reverse: true,
          limit: 1,
        })) {
          this.storLast.put([addr, slot], [key[2], value as Hex]);
          restored = true;
        }
        if (!restored) this.storLast.remove([addr, slot]);
      }
      this.blockKeys.remove(h);
    }
    crashPoint("unwind");
    return logs;
  }

  // The log tables derived from a block's logs: ready-to-serve text, match keys, address index.
  private putLogIndex(height: number, logs: RpcLog[]): void {
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
      topics.push(log.topics.map((t) => t.toLowerCase()));
      const list = byAddress.get(a);
      if (list) list.push(i);
      else byAddress.set(a, [i]);
    });
    parts.push(CLOSE_BRACKET);
    this.logText.put(height, Buffer.concat(parts));
    this.logKeys.put(height, { a: addresses, t: topics });
    for (const [a, indexes] of byAddress) this.logAddr.put([a, height], indexes);
  }

  // History row and latest row of an account or slot, always written together.
  private putAccount(addr: string, height: number, row: AccountRow): void {
    this.acct.put([addr, height], row);
    this.acctLast.put(addr, [height, row]);
  }

  private putSlot(addr: string, slot: string, height: number, value: Hex): void {
    this.stor.put([addr, slot, height], value);
    this.storLast.put([addr, slot], [height, value]);
  }

  // ---- ChainView ----

  earliest(): number {
    return this.chainInfo()?.earliest ?? 0;
  }

  tip(): ChainTip | undefined {
    const p = this.progress();
    return p ? { height: p.height, hash: p.hash, safe: p.safe, finalized: p.finalized } : undefined;
  }

  hasInitialState(): boolean {
    return this.chainInfo()?.hasInitialState ?? false;
  }

  private held(height: number): boolean {
    const p = this.progress();
    return p !== undefined && height >= this.earliest() && height <= p.height;
  }

  heightByHash(hash: Hex): number | undefined {
    const h = this.byHash.get(lower(hash));
    return h !== undefined && this.held(h) ? h : undefined;
  }

  block(height: number): RpcBlock | undefined {
    if (!this.held(height)) return undefined;
    const t = this.blockFull.get(height);
    return t === undefined ? undefined : (JSON.parse(t) as RpcBlock);
  }

  header(height: number): BlockHeader | undefined {
    if (!this.held(height)) return undefined;
    const h = this.blockHead.get(height);
    if (h !== undefined) return h;
    // Not derived yet (a read-only handle on a database its writer has not upgraded).
    const t = this.blockLite.get(height);
    return t === undefined ? undefined : headerOf(JSON.parse(t) as RpcBlock);
  }

  blockJson(height: number, full: boolean): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = (full ? this.blockFull : this.blockLite).get(height);
    return t === undefined ? undefined : new RawJson(t);
  }

  /** Hash and tx count of a held block, without parsing it. */
  blockSummary(height: number): BlockInfo | undefined {
    return this.held(height) ? this.blockInfo.get(height) : undefined;
  }

  txLocation(hash: Hex): { height: number; index: number } | undefined {
    const loc = this.txLoc.get(lower(hash));
    if (!loc || !this.held(loc[0])) return undefined;
    return { height: loc[0], index: loc[1] };
  }

  txJson(height: number, index: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.txJsonDb.get([height, index]);
    return t === undefined ? undefined : new RawJson(t);
  }

  receiptJson(height: number, index: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.rcptJson.get([height, index]);
    return t === undefined ? undefined : new RawJson(t);
  }

  blockReceiptsJson(height: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.blockRcpts.get(height);
    return t === undefined ? undefined : new RawJson(t);
  }

  blockLogs(height: number): RpcLog[] {
    if (!this.held(height)) return [];
    return this.logsDb.get(height) ?? [];
  }

  blockLogText(height: number): BlockLogText | undefined {
    if (!this.held(height)) return undefined;
    const v = this.logText.getBinary(height);
    if (v === undefined) return undefined;
    const n = v.readUInt32LE(0);
    const starts = new Array<number>(n);
    for (let i = 0; i < n; i++) starts[i] = v.readUInt32LE(4 + 4 * i);
    return { json: v.subarray(4 + 4 * n), starts };
  }

  blockLogKeys(height: number): BlockLogKeys | undefined {
    if (!this.held(height)) return undefined;
    const v = this.logKeys.get(height);
    return v === undefined ? undefined : { addresses: v.a, topics: v.t };
  }

  logsByAddress(address: string, from: number, to: number): Iterable<[number, number[]]> | undefined {
    if (!this.isDerivedReady()) return undefined;
    const tip = this.progress()?.height ?? -1;
    const last = Math.min(to, tip);
    if (last < from) return [];
    return this.logAddr
      .getRange({ start: [address, from], end: [address, last + 1] })
      .map(({ key, value }) => [key[1], value] as [number, number[]]);
  }

  logsBloom(height: number): Hex | undefined {
    return this.blockSummary(height)?.bloom;
  }

  account(address: Hex, height: number): AccountState | null | undefined {
    const addr = lower(address);
    if (height < this.earliest()) return undefined;
    if (this.isDerivedReady()) {
      const last = this.acctLast.get(addr);
      // No latest row: the account has no history row at all.
      if (last === undefined) return this.hasInitialState() ? null : undefined;
      if (height >= last[0]) return fromRow(last[1]);
    }
    for (const { value } of this.acct.getRange({
      start: [addr, height],
      end: [addr],
      reverse: true,
      limit: 1,
    })) {
      return fromRow(value);
    }
    return this.hasInitialState() ? null : undefined;
  }

  storage(address: Hex, slot: Hex, height: number): Hex | undefined {
    const addr = lower(address);
    const s = normaliseSlot(slot);
    if (height < this.earliest()) return undefined;
    if (this.isDerivedReady()) {
      const last = this.storLast.get([addr, s]);
      if (last === undefined) return this.hasInitialState() ? ZERO_WORD : undefined;
      if (height >= last[0]) return last[1];
    }
    for (const { value } of this.stor.getRange({
      start: [addr, s, height],
      end: [addr, s],
      reverse: true,
      limit: 1,
    })) {
      return value as Hex;
    }
    return this.hasInitialState() ? ZERO_WORD : undefined;
  }

  // A read-only process may have opened the database before its writer derived the tables.
  private isDerivedReady(): boolean {
    if (!this.derivedReady) this.derivedReady = this.meta.get("derived") === DERIVED_VERSION;
    return this.derivedReady;
  }

  code(codeHash: Hex): Hex | undefined {
    if (codeHash === EMPTY_CODE_HASH) return "0x";
    return this.codes.get(lower(codeHash)) as Hex | undefined;
  }

  /**
   * Moves this handle's reads to the newest committed state now, rather than on the next event
   * turn (a process that reads while another one writes, told that a block was applied).
   */
  resetReadTxn(): void {
    this.env.resetReadTxn();
  }

  /** Flushes and closes the environment. */
  async close(): Promise<void> {
    await this.env.close();
  }
}

function headerOf(block: RpcBlock): BlockHeader {
  const { transactions: _, ...header } = block;
  return header;
}

/** A storage key as a 32-byte lower-case word. */
export function normaliseSlot(slot: string): Hex {
  const h = slot.slice(2).toLowerCase().replace(/^0+/, "");
  return `0x${h.padStart(64, "0")}`;
}
