import { existsSync } from "node:fs";
import { join } from "node:path";
import { open } from "lmdb";
import {
  type Bundle,
  BundleError,
  DEFAULT_REORG_MAX,
  type HeadRecord,
  type RpcLog,
  type SnapshotAccount,
  type StateDump,
} from "../../format/index.ts";
import { crashPoint } from "../../util/crash.ts";
import { CommonError } from "../../util/errors.ts";
import type { Hex } from "../../util/hex.ts";
import type { ChainInfo, HistoryMode, SyncInfo } from "../../view/index.ts";
import { checkExtends, checkPreState, writeBlock, writeChunk, writeState } from "./apply.ts";
import { rebuildDerived } from "./derived.ts";
import { dropPreviousRows, pruneHistory, unwindFloor } from "./history.ts";
import { markerAt, markerOf, type PendingUnwind, type PrefixSwitch } from "./records.ts";
import { createdContracts, stateAt } from "./state-scan.ts";
import { Tables } from "./tables.ts";
import { unwindBlock } from "./unwind.ts";
import { DbView } from "./view.ts";

/** Options of the reader's local database. */
export interface ChainDbOptions {
  /** Directory of the LMDB environment. */
  path: string;
  /** Chain id this database holds; opening it for another chain fails. */
  chainId: number;
  /** Open read-only (RPC worker processes). */
  readOnly?: boolean;
}

/** A block to apply, with its head record. */
export interface BlockWithRecord {
  bundle: Bundle;
  rec: HeadRecord;
}

/**
 * The reader's local database (LMDB, `tables.ts`). Blocks, transactions and receipts are kept as
 * the JSON text the upstream returned, ready to serve; state as history rows keyed by
 * (address, height) and (address, slot, height) with the newest value of each beside them, so the
 * state after any held block is one `get` or one reverse range read (`view.ts`). Each block is
 * applied in one write transaction together with the progress marker (`apply.ts`), so a crash at
 * any moment leaves the database at a block boundary; a reorg unwinds and applies in one
 * transaction, a backtrack or switch reset in bounded steps (`unwind.ts`); `full` history prunes
 * state rows as blocks arrive (`history.ts`); the staged sync's records and restores go here too.
 */
export class ChainDb extends DbView {
  constructor(opts: ChainDbOptions) {
    const t = new Tables(opts.path, opts.readOnly ?? false);
    super(t, opts.chainId);
    if (this.info && this.info.chainId !== opts.chainId) {
      throw new CommonError("CONFIG_INVALID", `database at ${opts.path} holds chain ${this.info.chainId}`, {
        path: opts.path,
      });
    }
    if (!this.derivedReady && !opts.readOnly) {
      // A new database, or one written before the latest tables existed: derive them.
      t.write(() => rebuildDerived(t));
      this.derivedReady = true;
    }
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

  private initialised(): ChainInfo {
    const info = this.chainInfo();
    if (!info) throw new CommonError("INTERNAL", "database not initialised");
    return info;
  }

  /** Writes the chain descriptor (a new database only), in the caller's transaction. */
  private putInfo(info: ChainInfo): void {
    if (this.chainInfo()) throw new CommonError("INTERNAL", "database already initialised");
    this.t.meta.put("chain", info);
  }

  /**
   * Records the chain descriptor and, when given, the full state at `earliest`, in one
   * transaction. Called once, before the first block is applied.
   */
  initialise(info: ChainInfo, state: StateDump | null): void {
    this.t.write(() => {
      if (state) writeState(this.t, state, info.earliest);
      this.putInfo(info);
    });
    this.info = info;
  }

  /** Records the chain's reorg window in a database written before it was recorded. */
  recordReorgMax(reorgMax: number): void {
    const next: ChainInfo = { ...this.initialised(), reorgMax };
    this.t.write(() => {
      this.t.meta.put("chain", next);
    });
    this.info = next;
  }

  /**
   * Verifies and applies one block in one transaction with the progress marker. Refuses a block
   * that does not extend the applied chain, or whose pre-state disagrees with the held state.
   */
  applyBlock(bundle: Bundle, rec: HeadRecord): void {
    this.applyBlocks([{ bundle, rec }], {});
  }

  /**
   * Verifies and applies consecutive blocks in ONE transaction with the progress marker and the
   * sync position (BACKFILL: many blocks per commit). Blocks at or below `compactBelow` keep only
   * each key's newest history row (history mode `full`: their older rows will never be asked).
   */
  applyBlocks(blocks: BlockWithRecord[], opts: { compactBelow?: number; sync?: SyncInfo }): void {
    const info = this.initialised();
    if (blocks.length === 0) return;
    const before = this.progressCache;
    const mode = this.historyMode();
    try {
      this.t.write(() => {
        for (const { bundle, rec } of blocks) {
          const height = rec.height;
          checkExtends(info, this.progress(), bundle, height);
          if (height > info.earliest) checkPreState(this, bundle, height);
          if (height <= (opts.compactBelow ?? -1)) dropPreviousRows(this.t, bundle, height);
          writeBlock(this.t, bundle, height);
          pruneHistory(this.t, mode, info.earliest, height);
          // Later reads in this transaction see the new tip.
          this.progressCache = markerOf(rec);
        }
        this.t.meta.put("progress", this.progressCache);
        if (opts.sync) this.t.meta.put("sync", opts.sync);
      });
    } catch (err) {
      // The transaction rolled back: so does the cached marker.
      this.progressCache = before;
      throw err;
    }
  }

  // ---- an archiver's snapshots (src/archive) ----

  /**
   * The full state after block `height` as snapshot entries in address order, streamed from the
   * history rows (archive mode holds them at every height); `zeroSlots` keeps slots holding zero.
   */
  stateEntries(height: number, opts: { zeroSlots: boolean }): Iterable<SnapshotAccount> {
    return stateAt(this.t, height, opts);
  }

  /** Contracts that transactions of blocks `[from, to]` created (their receipts say so). */
  createdContracts(from: number, to: number): Iterable<string> {
    return createdContracts(this.t, from, to);
  }

  // ---- staged sync (src/sync): its records, snapshot restore, history mode ----

  /** Records the sync position (and, when given, a stage cursor) in one transaction. */
  setSyncInfo(info: SyncInfo, cursor?: { name: string; value: unknown }): void {
    this.t.write(() => {
      this.t.meta.put("sync", info);
      if (cursor) this.t.meta.put(`cursor:${cursor.name}`, cursor.value);
    });
  }

  /** A stage cursor written with `setSyncInfo` or `restoreChunk`. */
  cursor<T>(name: string): T | undefined {
    return this.t.meta.get(`cursor:${name}`) as T | undefined;
  }

  /** Sets the history mode of a new database (before anything is applied). */
  setHistoryMode(h: HistoryMode): void {
    this.t.write(() => {
      this.t.meta.put("history", h);
    });
    this.history = h;
  }

  /**
   * Writes one snapshot chunk's accounts, storage and codes as state at `height`, with the
   * CHECKPOINT cursor, in one transaction (a restore resumes at the first chunk not written).
   */
  restoreChunk(accounts: SnapshotAccount[], height: number, cursor: unknown): void {
    this.t.write(() => {
      writeChunk(this.t, accounts, height);
      this.t.meta.put("cursor:checkpoint", cursor);
    });
  }

  /**
   * Ends a snapshot restore: records the chain descriptor (earliest = the snapshot height, state
   * complete) and writes the snapshot's block with the progress marker and the sync position, in
   * one transaction. The block's post-values are the snapshot's own values at that height.
   */
  finishRestore(info: ChainInfo, bundle: Bundle, rec: HeadRecord, sync: SyncInfo): void {
    const next = markerOf(rec);
    this.t.write(() => {
      this.putInfo(info);
      writeBlock(this.t, bundle, rec.height);
      this.t.meta.put("progress", next);
      this.t.meta.put("sync", sync);
    });
    this.info = info;
    this.progressCache = next;
  }

  // ---- unwinding: reorgs, backtracks, writer-line switches ----

  /**
   * Switches to another branch: unwinds every applied block above `ancestor` (removing its block,
   * transactions, receipts, logs and state rows from every table, and restoring the latest rows
   * from history) and applies `blocks` (heights ancestor+1 …) in their place, all in ONE
   * transaction with the progress marker, so a crash leaves exactly one of the two branches.
   * Refuses blocks that do not link to the ancestor or whose pre-state disagrees.
   */
  reorg(ancestor: number, blocks: BlockWithRecord[]): { removedLogs: RpcLog[] } {
    const info = this.initialised();
    const prog = this.progress();
    if (!prog) throw new CommonError("INTERNAL", "nothing applied to unwind");
    const floor = this.unwindFloor();
    if (ancestor < floor) {
      throw new BundleError(
        "BUNDLE_PARENT_MISMATCH",
        `cannot unwind below block ${floor} (the earliest block, or the oldest state a full-history reader keeps)`,
        { ancestor, floor },
      );
    }
    const ancestorHash = this.t.blockInfo.get(ancestor)?.hash as Hex;
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
    const last = blocks[blocks.length - 1]?.rec;
    const next = last ? markerOf(last) : markerAt(ancestor, ancestorHash, prog);
    this.t.write(() => {
      for (let h = prog.height; h > ancestor; h--) removedLogs.unshift(...unwindBlock(this.t, h));
      for (const { bundle, rec } of blocks) {
        if (rec.height > info.earliest) checkPreState(this, bundle, rec.height);
        writeBlock(this.t, bundle, rec.height);
        crashPoint("reorg-apply");
      }
      this.t.meta.put("progress", next);
    });
    this.progressCache = next;
    return { removedLogs };
  }

  /** The bounded unwind in progress (backtrack or switch reset), if any. */
  pendingUnwind(): PendingUnwind | undefined {
    return this.t.meta.get("unwind") as PendingUnwind | undefined;
  }

  /**
   * The lowest height the database can unwind to: the earliest block, or in `full` history mode
   * the oldest height whose state it still has (unwinding below it would need pruned rows).
   */
  unwindFloor(): number {
    return unwindFloor(this.historyMode(), this.earliest(), this.prunedTo());
  }

  /** The prefix switch waiting for verification, if any. */
  pendingSwitch(): PrefixSwitch | undefined {
    return this.t.meta.get("switch") as PrefixSwitch | undefined;
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
    this.t.write(() => {
      this.t.meta.put("unwind", pending);
    });
    return pending;
  }

  /**
   * Starts following writer line `prefix`: records the switch, moves the chain's prefix, and
   * starts an unwind to `applied − 2·reorgMax` (the NodeX seed's reset, a height that cannot have
   * forked; the chain's reorg window as the database records it). Until `finishSwitch`, nothing
   * from `prefix` may be applied. A switch to the prefix already followed does nothing and returns
   * undefined.
   */
  startSwitch(prefix: string): PrefixSwitch | undefined {
    const info = this.initialised();
    if (info.prefix === prefix) return undefined;
    const reorgMax = info.reorgMax ?? DEFAULT_REORG_MAX;
    const prog = this.progress();
    // Not below the oldest state kept (full history): the reset must be a height it can unwind to.
    const height = prog
      ? Math.min(prog.height, Math.max(this.unwindFloor(), prog.height - 2 * reorgMax))
      : -1;
    const sw: PrefixSwitch = { prefix, previous: info.prefix, height };
    if (prog) sw.hash = this.t.blockInfo.get(height)?.hash;
    const next: ChainInfo = { ...info, prefix };
    this.t.write(() => {
      this.t.meta.put("switch", sw);
      this.t.meta.put("chain", next);
      if (prog && height < prog.height) this.t.meta.put("unwind", { to: height, reason: "switch" });
    });
    this.info = next;
    return sw;
  }

  /** The switch was verified: blocks from the new prefix may be applied. */
  finishSwitch(): void {
    this.t.write(() => {
      this.t.meta.remove("switch");
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
    const from = this.progress()?.height ?? pending.to;
    const removedLogs: RpcLog[] = [];
    for (let steps = 0; ; steps++) {
      if (steps >= maxSteps) return { from, to: pending.to, removedLogs, done: false };
      const prog = this.progress();
      if (!prog || prog.height <= pending.to) {
        this.t.write(() => {
          this.t.meta.remove("unwind");
        });
        break;
      }
      const stop = Math.max(pending.to, prog.height - Math.max(1, blocksPerStep));
      const top = this.t.blockInfo.get(stop);
      if (!top) throw new CommonError("INTERNAL", `block ${stop} missing while unwinding`);
      const next = markerAt(stop, top.hash, prog);
      const logs: RpcLog[] = [];
      this.t.write(() => {
        for (let h = prog.height; h > stop; h--) logs.unshift(...unwindBlock(this.t, h));
        this.t.meta.put("progress", next);
        if (stop === pending.to) this.t.meta.remove("unwind");
      });
      this.progressCache = next;
      removedLogs.unshift(...logs);
      crashPoint("unwind-step");
      if (stop === pending.to) break;
    }
    return { from, to: pending.to, removedLogs, done: true };
  }

  /**
   * Moves this handle's reads to the newest committed state now, rather than on the next event
   * turn (a process that reads while another one writes, told that a block was applied).
   */
  resetReadTxn(): void {
    this.t.env.resetReadTxn();
  }

  /** Flushes and closes the environment. */
  async close(): Promise<void> {
    await this.t.env.close();
  }
}
