import { EventEmitter } from "node:events";
import type { Bus } from "../bus/index.ts";
import type { Bundle, HeadRecord, RpcLog } from "../format/index.ts";
import type { ChainStore, HeadRef } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { type ChainkeepError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import type { ChainDb } from "./db.ts";

/** Options of the replicator. */
export interface ReplicatorOptions {
  /** Store poll interval, in ms (default 1000). Notices on the bus wake it earlier. */
  pollIntervalMs?: number;
  /** Bundles fetched ahead of the applier, in parallel (default 8). */
  prefetch?: number;
  /** Head keys listed per store request (default 1000). */
  listLimit?: number;
  /** Pause after each applied block, in ms (tests that stop a reader midway; default 0). */
  stepDelayMs?: number;
}

/** Everything the replicator needs. */
export interface ReplicatorDeps {
  chain: ChainStore;
  db: ChainDb;
  bus: Bus;
  logger: Logger;
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
  /** Branch switches (reorgs) applied since start. */
  reorgs: number;
  lastError?: string;
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
export class Replicator extends EventEmitter<{ applied: [AppliedBlock] }> {
  private readonly abort = new AbortController();
  private wakeFn: (() => void) | undefined;
  private woken = false;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  /** The chain's reorg window, from meta.json (default 64 until read). */
  private reorgMax = 64;
  /** True until the first round after start: it watches 2·reorgMax below the applied height. */
  private firstRound = true;
  /** A canonical record that does not link to the applied tip yet, and since when (ms). */
  private unlinked: { height: number; since: number } | undefined;
  private readonly st: ReplicatorStatus = {
    height: -1,
    storeHeight: -1,
    lag: 0,
    hasInitialState: false,
    blocksApplied: 0,
    txsApplied: 0,
    refused: 0,
    reorgs: 0,
  };

  constructor(
    private readonly opts: ReplicatorOptions,
    private readonly deps: ReplicatorDeps,
  ) {
    super();
  }

  status(): ReplicatorStatus {
    const p = this.deps.db.progress();
    const height = p?.height ?? -1;
    return { ...this.st, height, lag: Math.max(0, this.st.storeHeight - height) };
  }

  /** Initialises the database from the store when new, then follows the store. */
  async start(): Promise<void> {
    this.unsubscribe = this.deps.bus.subscribe(this.deps.chain.chainId, () => this.wake());
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.unsubscribe?.();
    this.wake();
    await this.loop;
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
        reject(new Error(`height ${height} not applied within ${timeoutMs} ms`));
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
        let more = true;
        while (more && !signal.aborted) more = await this.round();
        attempt = 0;
        await this.idle(this.opts.pollIntervalMs ?? 1000);
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

  private async readReorgMax(): Promise<void> {
    const meta = await this.deps.chain.readMeta();
    if (meta) this.reorgMax = meta.reorgMax;
  }

  private async initialise(): Promise<void> {
    const meta = await this.deps.chain.readMeta();
    if (!meta)
      throw new Error(`no chain ${this.deps.chain.chainId} under prefix ${this.deps.chain.prefix} yet`);
    this.reorgMax = meta.reorgMax;
    const state = meta.initialState
      ? await this.deps.chain.readInitialState(meta.initialState.key, meta.initialState.sha256)
      : null;
    this.deps.db.initialise(
      {
        chainId: meta.chainId,
        earliest: meta.fromBlock,
        hasInitialState: state !== null,
        genesisHash: meta.genesisHash,
        prefix: this.deps.chain.prefix,
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

  /** One discovery round; true when there may be more to apply right away. */
  private async round(): Promise<boolean> {
    const { chain, db } = this.deps;
    const info = db.chainInfo();
    if (!info) return false;
    const prog = db.progress();
    const from = (prog?.height ?? info.earliest - 1) + 1;
    // Watch the reorg window below the applied height (2·reorgMax on the first round after a
    // start, per the NodeX seed) as well as everything above it.
    const watch = this.firstRound ? 2 * this.reorgMax : this.reorgMax;
    const lo = prog ? Math.max(info.earliest, prog.height - watch) : from;
    const limit = (this.opts.listLimit ?? 1000) + (from - lo);
    const refs = await chain.listHeads(lo, limit);
    this.firstRound = false;
    // Canonical head per height: the latest write timestamp (keys sort by writeTs within a height).
    const byHeight = new Map<number, HeadRef>();
    for (const r of refs) byHeight.set(r.height, r);
    if (prog) {
      for (let h = lo; h <= prog.height; h++) {
        const canon = byHeight.get(h);
        if (canon && canon.hash !== db.blockSummary(h)?.hash) {
          await this.switchBranch(h, byHeight);
          return true;
        }
      }
    }
    const last = refs[refs.length - 1];
    if (last) this.st.storeHeight = Math.max(this.st.storeHeight, last.height);
    const ordered: HeadRef[] = [];
    for (let h = from; byHeight.has(h); h++) ordered.push(byHeight.get(h) as HeadRef);
    // When the listing was cut at `limit`, the last height may have more records: leave it for
    // the next round.
    if (refs.length === limit && ordered.length > 0 && ordered[ordered.length - 1]?.height === last?.height)
      ordered.pop();
    if (ordered.length === 0) return false;

    const prefetch = Math.max(1, this.opts.prefetch ?? 8);
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
    for (let i = 0; i < Math.min(prefetch, ordered.length); i++) fetches.push(load(ordered[i] as HeadRef));
    for (let i = 0; i < ordered.length && !this.abort.signal.aborted; i++) {
      const next = i + prefetch;
      if (next < ordered.length) fetches.push(load(ordered[next] as HeadRef));
      const { rec, bundle } = await (fetches[i] as Promise<{ rec: HeadRecord; bundle: Bundle }>);
      const tipHash = db.progress()?.hash;
      if (tipHash !== undefined && rec.parentHash !== tipHash) {
        // The writer is rewriting after a reorg and has not reached this height yet: the
        // canonical record here still belongs to the old branch. Wait for it; complain only
        // when it lasts.
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
      this.unlinked = undefined;
      db.applyBlock(bundle, rec);
      this.st.blocksApplied++;
      this.st.txsApplied += bundle.block.transactions.length;
      this.st.lastError = undefined;
      this.emit("applied", { height: rec.height, bundle, record: rec });
      if (this.opts.stepDelayMs) await sleep(this.opts.stepDelayMs, this.abort.signal);
    }
    return refs.length === limit;
  }

  /**
   * The canonical chain in the store parts from the applied one at `fork`: load and verify the
   * canonical blocks from `fork` up, then unwind the applied blocks above `fork − 1` and apply the
   * new ones in ONE database transaction (a crash leaves one branch or the other).
   */
  private async switchBranch(fork: number, byHeight: Map<number, HeadRef>): Promise<void> {
    const { chain, db } = this.deps;
    const blocks: { bundle: Bundle; rec: HeadRecord }[] = [];
    let parent = db.blockSummary(fork - 1)?.hash;
    for (let h = fork; byHeight.has(h); h++) {
      const ref = byHeight.get(h) as HeadRef;
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
      this.st.blocksApplied++;
      this.st.txsApplied += bundle.block.transactions.length;
      this.emit("applied", {
        height: rec.height,
        bundle,
        record: rec,
        removedLogs: i === 0 ? removedLogs : undefined,
      });
    });
  }
}
