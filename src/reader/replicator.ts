import { EventEmitter } from "node:events";
import type { Bus } from "../bus/index.ts";
import {
  type Bundle,
  BundleError,
  DEFAULT_REORG_MAX,
  type HeadRecord,
  type RpcLog,
} from "../format/index.ts";
import type { ChainStore, HeadRef } from "../store/index.ts";
import { StoreError } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { type ChainkeepError, CommonError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { type PartialOptions, withDefaults } from "../util/options.ts";
import type { ChainInfo } from "../view/index.ts";
import type { ChainDb } from "./db/chain-db.ts";
import { type ReplicatorOptions, replicatorOptions } from "./options.ts";

/** Everything the replicator needs. */
export interface ReplicatorDeps {
  /** The writer line the database follows (its recorded prefix). */
  chain: ChainStore;
  db: ChainDb;
  bus: Bus;
  logger: Logger;
  /** Another writer line of the same chain, for prefix switches (none: switching is refused). */
  openChain?: (prefix: string) => ChainStore;
}

/** Where a switch to another writer line stands (`ReplicatorStatus.switch`). */
export interface SwitchStatus {
  prefix: string;
  /** The reset height whose block the new line must hold. */
  height: number;
  /**
   * `waiting`: the new line has no block at `height` yet; `refused`: it holds another block there
   * (or another chain), so nothing from it is applied.
   */
  state: "waiting" | "refused";
  reason: string;
}

/** What the replicator reports. */
export interface ReplicatorStatus {
  /** Applied height, -1 before the first block. */
  height: number;
  /** Highest head record seen in the store. */
  storeHeight: number;
  /** storeHeight − height. */
  lag: number;
  hasInitialState: boolean;
  blocksApplied: number;
  txsApplied: number;
  /** Bundles refused by verification (checksum, hash, parent, pre-state). */
  refused: number;
  /** Branch switches (reorgs) applied since start, unwinds to a shorter chain included. */
  reorgs: number;
  /** Bundle bytes applied since start (blocks as committed, gzip JSON). */
  bytesApplied: number;
  /** Backtracks done since start. */
  backtracks: number;
  /** The writer line followed. */
  prefix: string;
  /** Height of the writer's newest head record (its tip), -1 before one is seen. */
  writerTip: number;
  /** Set while a switch to another writer line is not verified. */
  switch?: SwitchStatus;
  lastError?: string;
}

/** The database was unwound to `height` (a reorg to a shorter chain, a backtrack, a switch). */
export interface Unwound {
  height: number;
  reason: "reorg" | "backtrack" | "switch";
  /** Logs of the removed blocks, oldest first. */
  removedLogs: RpcLog[];
}

/** One round's listing of head records (see `Replicator.listWindow`). */
interface HeadWindow {
  /** The next height to apply. */
  from: number;
  /** The lowest height listed (the watched reorg window below the applied one). */
  lo: number;
  /** The canonical record per height. */
  byHeight: Map<number, HeadRef>;
  /** The writer's tip: records above it are never applied. */
  tip: number;
  /** The listing was cut at its limit (more records follow). */
  cut: boolean;
  /** The writer's newest record was in the listing. */
  tipSeen: boolean;
}

/** An applied block, for subscriptions and status. */
export interface AppliedBlock {
  height: number;
  bundle: Bundle;
  record: HeadRecord;
  /** Logs of the blocks a reorg unwound just before this block, oldest first. */
  removedLogs?: RpcLog[];
}

/**
 * Discovers committed blocks in the store (woken by bus notices, polling as a fallback), verifies
 * each bundle and applies it into the local database in height order (NodeX "Replicator").
 */
export class Replicator extends EventEmitter<{ applied: [AppliedBlock]; unwound: [Unwound] }> {
  private readonly abort = new AbortController();
  private wakeFn: (() => void) | undefined;
  private woken = false;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  /** The chain's reorg window, from the database or meta.json (read on the first round). */
  private reorgMaxRead: number | undefined;
  /** True until the first round after start: it watches 2·reorgMax below the applied height. */
  private firstRound = true;
  /** A canonical record that does not link to the applied tip yet, and since when (ms). */
  private unlinked: { height: number; since: number } | undefined;
  /** Since when (ms) the object store has been failing, while it is. */
  private storeDownSince: number | undefined;
  /** The writer line followed (changed by a switch). */
  private chain: ChainStore;
  /** Operator operations (backtrack, switch), run by the loop between rounds. */
  private readonly ops: { run: () => Promise<unknown>; done: (v: unknown, err?: unknown) => void }[] = [];
  /** When a refused switch was last logged (ms). */
  private switchLogged = 0;
  private readonly st: ReplicatorStatus;
  private readonly opts: ReplicatorOptions;
  /** Pause after each applied block, in ms (tests that stop a reader midway). */
  private readonly stepDelayMs: number;

  constructor(
    opts: PartialOptions<typeof replicatorOptions> & { stepDelayMs?: number },
    private readonly deps: ReplicatorDeps,
  ) {
    super();
    this.opts = withDefaults(replicatorOptions, opts);
    this.stepDelayMs = opts.stepDelayMs ?? 0;
    this.chain = deps.chain;
    this.st = {
      height: -1,
      storeHeight: -1,
      lag: 0,
      hasInitialState: false,
      blocksApplied: 0,
      txsApplied: 0,
      bytesApplied: 0,
      refused: 0,
      reorgs: 0,
      backtracks: 0,
      prefix: deps.chain.prefix,
      writerTip: -1,
    };
  }

  /** The chain's reorg window, in blocks. */
  private get reorgMax(): number {
    return this.reorgMaxRead ?? this.deps.db.chainInfo()?.reorgMax ?? DEFAULT_REORG_MAX;
  }

  /** The writer's tip on the line followed, searching up from `known` (see `ChainStore.writerTip`). */
  async writerTip(known: number): Promise<number> {
    return (await this.chain.writerTip(Math.max(known, 0), this.reorgMax)) ?? known;
  }

  status(): ReplicatorStatus {
    const p = this.deps.db.progress();
    const height = p?.height ?? -1;
    return {
      ...this.st,
      prefix: this.chain.prefix,
      height,
      lag: Math.max(0, this.st.storeHeight - height),
    };
  }

  /**
   * Rewinds the database to `height` (kept) and re-applies from the store (NodeX "backtracking":
   * a business reported bad data above `height`). The unwind runs in bounded transactions, each
   * leaving a consistent database, and resumes after a crash. Resolves once unwound.
   */
  backtrack(height: number): Promise<{ from: number; to: number }> {
    return this.enqueue(async () => {
      this.deps.db.startBacktrack(height);
      const res = await this.finishUnwind();
      this.st.backtracks++;
      this.deps.logger.warn({ from: res?.from, to: height }, "backtracked: re-applying from the store");
      return { from: res?.from ?? height, to: height };
    });
  }

  /**
   * Follows writer line `prefix` from now on: resets the database to `applied − 2·reorgMax`, then
   * applies from the new line only once its block at that height is the one held (see
   * `status().switch`). Resolves once reset, with the reset height (undefined: already followed).
   */
  switchPrefix(prefix: string): Promise<{ prefix: string; height: number } | undefined> {
    return this.enqueue(async () => {
      if (!this.deps.openChain) {
        throw new CommonError("CONFIG_INVALID", "this reader cannot switch writer lines");
      }
      const sw = this.deps.db.startSwitch(prefix);
      if (!sw) return undefined;
      this.deps.logger.warn(
        { from: sw.previous, to: prefix, resetTo: sw.height },
        "switching writer line: resetting to applied − 2·reorgMax",
      );
      this.followRecordedPrefix();
      await this.finishUnwind();
      return { prefix, height: sw.height };
    });
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.ops.push({
        run,
        done: (v, err) => (err === undefined ? resolve(v as T) : reject(err)),
      });
      this.wake();
    });
  }

  private async runOps(): Promise<void> {
    for (let op = this.ops.shift(); op; op = this.ops.shift()) {
      try {
        op.done(await op.run());
      } catch (err) {
        op.done(undefined, err ?? new CommonError("INTERNAL", "operation failed"));
      }
    }
  }

  /**
   * Runs a pending bounded unwind to its end, one transaction at a time, letting the event loop
   * serve requests between them, and tells subscribers.
   */
  private async finishUnwind(): Promise<{ from: number; to: number } | undefined> {
    const db = this.deps.db;
    const pending = db.pendingUnwind();
    if (!pending) return undefined;
    const from = db.progress()?.height ?? pending.to;
    let removedLogs: RpcLog[] = [];
    for (;;) {
      const step = db.continueUnwind(16, 1);
      if (!step) break;
      // Each step removes lower blocks than the one before: its logs come first.
      removedLogs = step.removedLogs.concat(removedLogs);
      if (step.done) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.firstRound = true;
    this.emit("unwound", { height: pending.to, reason: pending.reason, removedLogs });
    return { from, to: pending.to };
  }

  /** Reads from the prefix the database records (it changes with a switch). */
  private followRecordedPrefix(): void {
    const prefix = this.deps.db.chainInfo()?.prefix;
    if (prefix === undefined || prefix === this.chain.prefix) return;
    if (!this.deps.openChain) {
      throw new CommonError("CONFIG_INVALID", `the database follows prefix ${prefix}`, { prefix });
    }
    this.chain = this.deps.openChain(prefix);
  }

  /** Initialises the database from the store when new, then follows the store. */
  /** The writer line followed now (a switch changes it). */
  get line(): ChainStore {
    return this.chain;
  }

  async start(): Promise<void> {
    this.unsubscribe = this.deps.bus.subscribe(this.deps.chain.chainId, () => this.wake());
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.unsubscribe?.();
    this.wake();
    await this.loop;
    for (let op = this.ops.shift(); op; op = this.ops.shift()) {
      op.done(undefined, new CommonError("INTERNAL", "the reader stopped before the operation ran"));
    }
  }

  /** Wakes the loop now (a bus notice arrived). */
  wake(): void {
    this.woken = true;
    this.wakeFn?.();
  }

  /** Resolves when `height` is applied (for tests and tools), or rejects after `timeoutMs`. */
  waitFor(height: number, timeoutMs = 30_000): Promise<void> {
    if ((this.deps.db.progress()?.height ?? -1) >= height) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off("applied", on);
        reject(
          new CommonError("INTERNAL", `height ${height} not applied within ${timeoutMs} ms`, { height }),
        );
      }, timeoutMs);
      const on = (b: AppliedBlock) => {
        if (b.height >= height) {
          clearTimeout(t);
          this.off("applied", on);
          resolve();
        }
      };
      this.on("applied", on);
    });
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        if (!this.deps.db.chainInfo()) await this.initialise();
        else if (this.firstRound) await this.readReorgMax();
        this.st.hasInitialState = this.deps.db.hasInitialState();
        this.followRecordedPrefix();
        // A backtrack or switch reset that a crash interrupted.
        await this.finishUnwind();
        let more = true;
        while (more && !signal.aborted) {
          await this.runOps();
          more = await this.round();
        }
        await this.runOps();
        if (this.storeDownSince !== undefined) {
          this.deps.logger.warn(
            {
              unavailableMs: Date.now() - this.storeDownSince,
              height: this.deps.db.progress()?.height ?? -1,
            },
            "object store reachable again: replication resumed",
          );
          this.storeDownSince = undefined;
        }
        attempt = 0;
        await this.idle(this.opts.pollInterval);
      } catch (err) {
        this.st.lastError = errorMessage(err);
        const code = (err as ChainkeepError).code;
        if (
          code === "BUNDLE_CHECKSUM" ||
          code === "BUNDLE_HASH_MISMATCH" ||
          code === "BUNDLE_FORMAT" ||
          code === "BUNDLE_PARENT_MISMATCH" ||
          code === "BUNDLE_PRE_MISMATCH"
        ) {
          this.st.refused++;
          this.deps.logger.error(
            { err: errorMessage(err), code, ...(err as ChainkeepError).meta },
            "bundle refused",
          );
        } else if (code === "STORE_NOT_FOUND" && !this.deps.db.chainInfo()) {
          // The writer has not initialised the chain yet: say so once, then wait quietly.
          if (attempt === 0)
            this.deps.logger.info("waiting for the writer to initialise the chain in the store");
        } else if (code === "STORE_UNAVAILABLE" || code === "STORE_IO") {
          if (this.storeDownSince === undefined) {
            this.storeDownSince = Date.now();
            this.deps.logger.error(
              { err: errorMessage(err), code, height: this.deps.db.progress()?.height ?? -1 },
              "object store unreachable: serving the blocks applied so far, retrying until it is back",
            );
          } else this.deps.logger.debug({ err: errorMessage(err), code }, "object store still unreachable");
        } else {
          this.deps.logger.warn({ err: errorMessage(err), code }, "replication round failed");
        }
        await sleep(backoffMs(attempt++, 250, 5000), signal);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.abort.signal;
      const self = this;
      this.wakeFn = done;
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        self.wakeFn = undefined;
        self.woken = false;
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }

  // A database written before it recorded the chain's reorg window learns it from meta.json.
  private async readReorgMax(): Promise<void> {
    const recorded = this.deps.db.chainInfo()?.reorgMax;
    if (recorded !== undefined) {
      this.reorgMaxRead = recorded;
      return;
    }
    const meta = await this.chain.readMeta();
    if (!meta) return;
    this.deps.db.recordReorgMax(meta.reorgMax);
    this.reorgMaxRead = meta.reorgMax;
  }

  private async initialise(): Promise<void> {
    const meta = await this.chain.readMeta();
    if (!meta) {
      throw new StoreError(
        "STORE_NOT_FOUND",
        `no chain ${this.chain.chainId} under prefix ${this.chain.prefix} yet`,
      );
    }
    this.reorgMaxRead = meta.reorgMax;
    const state = meta.initialState
      ? await this.chain.readInitialState(meta.initialState.key, meta.initialState.sha256)
      : null;
    this.deps.db.initialise(
      {
        chainId: meta.chainId,
        earliest: meta.fromBlock,
        hasInitialState: state !== null,
        genesisHash: meta.genesisHash,
        prefix: this.chain.prefix,
        reorgMax: meta.reorgMax,
      },
      state,
    );
    this.deps.logger.info(
      { earliest: meta.fromBlock, initialState: meta.initialState?.method ?? "none" },
      state
        ? "database initialised with the initial state"
        : "database initialised WITHOUT initial state: untouched state is forwarded to the upstream",
    );
  }

  /**
   * Before anything from a new writer line is applied: its chain must be this chain, and its
   * canonical block at the reset height the one the database kept. True once verified.
   */
  private async verifySwitch(): Promise<boolean> {
    const { db, logger } = this.deps;
    const sw = db.pendingSwitch();
    if (!sw) {
      this.st.switch = undefined;
      return true;
    }
    const info = db.chainInfo();
    const meta = await this.chain.readMeta();
    let state: SwitchStatus["state"] = "waiting";
    let reason: string;
    if (!meta) {
      reason = `no chain under prefix ${sw.prefix} yet`;
    } else if (meta.chainId !== info?.chainId || meta.genesisHash !== info.genesisHash) {
      state = "refused";
      reason = `prefix ${sw.prefix} holds another chain (${meta.chainId}, genesis ${meta.genesisHash})`;
    } else if (sw.height < 0) {
      reason = "";
    } else {
      const ref = await this.chain.canonicalHead(sw.height);
      if (!ref) reason = `prefix ${sw.prefix} has no block at the reset height ${sw.height} yet`;
      else if (ref.hash !== sw.hash) {
        state = "refused";
        reason = `prefix ${sw.prefix} has block ${ref.hash} at ${sw.height}, the reader holds ${sw.hash}`;
      } else reason = "";
    }
    if (reason === "") {
      db.finishSwitch();
      this.st.switch = undefined;
      this.firstRound = true;
      logger.warn({ prefix: sw.prefix, height: sw.height }, "switch verified: following the new writer line");
      return true;
    }
    const changed = this.st.switch?.state !== state || this.st.switch.reason !== reason;
    this.st.switch = { prefix: sw.prefix, height: sw.height, state, reason };
    if (changed || Date.now() - this.switchLogged > 30_000) {
      this.switchLogged = Date.now();
      if (state === "refused") {
        if (changed) this.st.refused++;
        logger.error(
          { prefix: sw.prefix, height: sw.height, reason },
          "switch refused: not applying from it",
        );
      } else {
        logger.warn(
          { prefix: sw.prefix, height: sw.height, reason },
          "switch waiting for the new writer line",
        );
      }
    }
    return false;
  }

  /**
   * One discovery round; true when there may be more to apply right away.
   *
   * The writer's tip is its newest head record (greatest writeTs): it writes in height order,
   * rewrites above the common ancestor after a reorg, and re-marks the ancestor when the upstream
   * went back to a shorter chain. Records above the tip belong to an abandoned branch (a reorg to
   * a shorter chain leaves them) and are never applied; applied blocks above it are unwound.
   */
  private async round(): Promise<boolean> {
    const info = this.deps.db.chainInfo();
    if (!info) return false;
    if (!(await this.verifySwitch())) return false;
    const window = await this.listWindow(info);
    if (await this.reconcile(window)) return true;
    const next = this.nextRefs(window);
    if (next.length === 0) return false;
    const applied = await this.applyInOrder(next);
    // An operator's action waits (true: run it now), or the next record does not link yet.
    return applied === "interrupted" ? true : applied === "waiting" ? false : window.cut;
  }

  /**
   * Lists the head records of the watched window: the reorg window below the applied height
   * (2·reorgMax on the first round after a start, per the NodeX seed) and what is above it; the
   * canonical record per height (the latest write timestamp: keys sort by writeTs within a
   * height) and the writer's tip.
   */
  private async listWindow(info: ChainInfo): Promise<HeadWindow> {
    const prog = this.deps.db.progress();
    const from = (prog?.height ?? info.earliest - 1) + 1;
    const watch = this.firstRound ? 2 * this.reorgMax : this.reorgMax;
    const lo = prog ? Math.max(info.earliest, prog.height - watch) : from;
    const limit = this.opts.listLimit + (from - lo);
    const refs = await this.chain.listHeads(lo, limit);
    this.firstRound = false;
    const byHeight = new Map<number, HeadRef>();
    let newest: HeadRef | undefined;
    for (const r of refs) {
      byHeight.set(r.height, r);
      if (!newest || r.writeTs > newest.writeTs) newest = r;
    }
    const last = refs[refs.length - 1];
    // A listing cut at `limit` does not show the writer's newest record: heights more than
    // reorgMax below the last one listed cannot be above the tip (the writer does not follow
    // deeper reorgs without an operator).
    const cut = refs.length === limit;
    const tip = cut ? (last?.height ?? 0) - 1 - this.reorgMax : (newest?.height ?? -1);
    if (!cut && newest) this.st.writerTip = newest.height;
    if (last) this.st.storeHeight = Math.max(this.st.storeHeight, Math.min(last.height, tip));
    return { from, lo, byHeight, tip, cut, tipSeen: !cut && newest !== undefined };
  }

  /**
   * Brings the applied chain in line with the window: switches branch where a canonical record at
   * or below the tip differs from the applied block, and unwinds what is held above the writer's
   * tip after it went back to a shorter chain. True when it changed the database.
   */
  private async reconcile(w: HeadWindow): Promise<boolean> {
    const { db } = this.deps;
    const prog = db.progress();
    if (!prog) return false;
    for (let h = w.lo; h <= Math.min(prog.height, w.tip); h++) {
      const canon = w.byHeight.get(h);
      if (canon && canon.hash !== db.blockSummary(h)?.hash) {
        await this.switchBranch(h, w.byHeight, w.tip);
        return true;
      }
    }
    if (w.tipSeen && w.tip < prog.height && w.tip >= w.lo) {
      // The writer went back to a shorter chain: what is held above its tip is orphaned.
      this.unwindTo(w.tip);
      return true;
    }
    return false;
  }

  /** The canonical records to apply next: from the applied height on, up to the tip, no gap. */
  private nextRefs(w: HeadWindow): HeadRef[] {
    const ordered: HeadRef[] = [];
    for (let h = w.from; h <= w.tip && w.byHeight.has(h); h++) ordered.push(w.byHeight.get(h) as HeadRef);
    return ordered;
  }

  /**
   * Fetches and verifies the bundles of `refs`, `prefetch` ahead, and applies them in height
   * order. Stops when an operator's action is queued (`interrupted`), or when a record does not
   * link to the applied tip (`waiting`: the writer is still rewriting after a reorg).
   */
  private async applyInOrder(refs: HeadRef[]): Promise<"done" | "interrupted" | "waiting"> {
    const { db } = this.deps;
    const chain = this.chain;
    const prefetch = Math.max(1, this.opts.prefetch);
    const fetches: Promise<{ rec: HeadRecord; bundle: Bundle }>[] = [];
    const load = (ref: HeadRef) => {
      const p = (async () => {
        const rec = await chain.readHead(ref);
        return { rec, bundle: await chain.readBundle(rec) };
      })();
      // A prefetch may fail before it is awaited; the await below still sees the error.
      p.catch(() => {});
      return p;
    };
    for (let i = 0; i < Math.min(prefetch, refs.length); i++) fetches.push(load(refs[i] as HeadRef));
    for (let i = 0; i < refs.length && !this.abort.signal.aborted; i++) {
      const next = i + prefetch;
      if (next < refs.length) fetches.push(load(refs[next] as HeadRef));
      const { rec, bundle } = await (fetches[i] as Promise<{ rec: HeadRecord; bundle: Bundle }>);
      if (this.ops.length > 0) return "interrupted"; // an operator's backtrack or switch goes first
      if (!this.links(rec)) return "waiting";
      db.applyBlock(bundle, rec);
      this.counted(bundle, rec);
      this.emit("applied", { height: rec.height, bundle, record: rec });
      if (this.stepDelayMs) await sleep(this.stepDelayMs, this.abort.signal);
    }
    return "done";
  }

  /**
   * True when `rec` extends the applied tip. When not, the writer is rewriting after a reorg and
   * has not reached this height yet (the canonical record here still belongs to the old branch):
   * wait for it, and complain only when it lasts.
   */
  private links(rec: HeadRecord): boolean {
    const tipHash = this.deps.db.progress()?.hash;
    if (tipHash === undefined || rec.parentHash === tipHash) {
      this.unlinked = undefined;
      return true;
    }
    this.unlinked ??= { height: rec.height, since: Date.now() };
    if (this.unlinked.height === rec.height && Date.now() - this.unlinked.since > 30_000) {
      this.unlinked.since = Date.now();
      this.st.refused++;
      this.deps.logger.error(
        { height: rec.height, parentHash: rec.parentHash, applied: tipHash },
        "the store's canonical block does not link to the applied chain",
      );
    }
    return false;
  }

  /** Counts an applied block in the status. */
  private counted(bundle: Bundle, rec: HeadRecord): void {
    this.st.blocksApplied++;
    this.st.txsApplied += bundle.block.transactions.length;
    this.st.bytesApplied += rec.size;
    this.st.lastError = undefined;
  }

  /** Unwinds the blocks above `height` in one transaction (the writer's chain got shorter). */
  private unwindTo(height: number): void {
    const applied = this.deps.db.progress()?.height ?? height;
    const { removedLogs } = this.deps.db.reorg(height, []);
    this.st.reorgs++;
    this.deps.logger.warn(
      { unwound: applied - height, newTip: height },
      "reorg to a shorter chain: unwound above the writer's tip",
    );
    this.emit("unwound", { height, reason: "reorg", removedLogs });
  }

  /** The canonical head ref at `h`: from this round's listing, else from the store. */
  private async refAt(h: number, byHeight: Map<number, HeadRef>): Promise<HeadRef | undefined> {
    return byHeight.get(h) ?? (await this.chain.canonicalHead(h));
  }

  /**
   * The canonical chain in the store parts from the applied one at `fork`: load and verify the
   * canonical blocks from `fork` up to the writer's tip, then unwind the applied blocks above
   * `fork − 1` and apply the new ones in ONE database transaction (a crash leaves one branch or
   * the other). When the block at `fork` does not link to the held one below, the branches part
   * deeper (below the watched window, a reorg an operator let the writer follow): walk down.
   */
  private async switchBranch(fork: number, byHeight: Map<number, HeadRef>, tip: number): Promise<void> {
    const { db } = this.deps;
    const chain = this.chain;
    const earliest = db.earliest();
    const first = await chain.readHead(byHeight.get(fork) as HeadRef);
    if (fork > earliest && first.parentHash !== db.blockSummary(fork - 1)?.hash) {
      let h = fork - 1;
      for (; h > earliest; h--) {
        const ref = await this.refAt(h, byHeight);
        if (!ref || ref.hash === db.blockSummary(h)?.hash) break;
      }
      const ref = await this.refAt(h, byHeight);
      if (ref && ref.hash !== db.blockSummary(h)?.hash) {
        throw new BundleError(
          "BUNDLE_PARENT_MISMATCH",
          "the store's chain shares no block with the held one",
          {
            height: h,
          },
        );
      }
      this.deps.logger.warn({ fork: h + 1, watchedFrom: fork }, "reorg deeper than the watched window");
      fork = h + 1;
    }
    const blocks: { bundle: Bundle; rec: HeadRecord }[] = [];
    let parent = db.blockSummary(fork - 1)?.hash;
    for (let h = fork; h <= tip; h++) {
      const ref = await this.refAt(h, byHeight);
      if (!ref) break;
      const rec = await chain.readHead(ref);
      // While the writer is still rewriting, heights above its progress keep the old branch's
      // records: take the new branch only as far as it links.
      if (rec.parentHash !== parent) break;
      blocks.push({ rec, bundle: await chain.readBundle(rec) });
      parent = rec.hash;
    }
    if (blocks.length === 0) return;
    const applied = db.progress()?.height ?? fork - 1;
    const { removedLogs } = db.reorg(fork - 1, blocks);
    this.st.reorgs++;
    this.deps.logger.warn(
      { fork, unwound: applied - fork + 1, applied: blocks.length, newTip: fork - 1 + blocks.length },
      "reorg: switched to the canonical branch",
    );
    blocks.forEach(({ bundle, rec }, i) => {
      this.counted(bundle, rec);
      this.emit("applied", {
        height: rec.height,
        bundle,
        record: rec,
        removedLogs: i === 0 ? removedLogs : undefined,
      });
    });
  }
}
