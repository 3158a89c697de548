import { EventEmitter } from "node:events";
import { BundleError, type ChainMeta, type SnapshotChunk, type SnapshotManifest } from "../format/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { type ChainkeepError, CommonError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { type PartialOptions, withDefaults } from "../util/options.ts";
import type { SyncInfo, SyncStage } from "../view/index.ts";
import { SyncError } from "./errors.ts";
import { type SyncerOptions, syncOptions } from "./options.ts";
import type { CheckpointSource, HeadFollower, RangeSource, StateRootCheck, SyncDb } from "./types.ts";

/** Progress of the current stage, for progress bars and logs. */
export interface StageProgress {
  stage: SyncStage;
  /** Units done and total in the stage: chunks in CHECKPOINT, blocks in BACKFILL and HEAD. */
  done: number;
  total: number;
  unit: "chunks" | "blocks";
  /** Bytes downloaded in the stage. */
  bytes: number;
  /** When the stage started (or resumed), ms since the epoch; and the `done` it started at. */
  startedMs: number;
  startDone: number;
}

/** Cursor of the CHECKPOINT stage: the snapshot being restored and the chunks written. */
interface CheckpointCursor {
  height: number;
  chunksDone: number;
}

/** What the staged sync works with (see `types.ts`). */
export interface SyncerDeps {
  db: SyncDb;
  /** Follows the head in HEAD and LIVE. */
  follower: HeadFollower;
  /** The chain's descriptor, initial state and snapshots (CHECKPOINT). */
  checkpoint: CheckpointSource;
  /** Runs of verified blocks (BACKFILL). */
  backfill: RangeSource;
  /** The writer line a new database records as followed. */
  prefix: string;
  logger: Logger;
  /** Opens a state-root recomputation for a snapshot of the chain (`verifyStateRoot`). */
  stateRoot?: (meta: ChainMeta) => Promise<StateRootCheck>;
}

/**
 * A reader's staged sync: CHECKPOINT (restore the newest snapshot, or start from the chain's
 * start) → BACKFILL (segments up to the finalized height) → HEAD (per-block bundles through the
 * replicator, reorgs included) → LIVE (within `liveLag` of the store's head). Each stage's cursor
 * is in the database (CHECKPOINT: the chunks written; BACKFILL and HEAD: the progress marker), so
 * a restart resumes where it stopped; a failing stage logs why, records it and retries with
 * backoff. The position is written to the database, where every RPC process reads it.
 */
export class Syncer extends EventEmitter<{ progress: [StageProgress]; stage: [SyncStage] }> {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private stage: SyncStage = "CHECKPOINT";
  private startingBlock = 0;
  private highest = 0;
  private lastError: string | undefined;
  private followerStarted = false;
  private prog: StageProgress | undefined;

  private readonly opts: SyncerOptions;

  constructor(
    opts: PartialOptions<typeof syncOptions>,
    private readonly deps: SyncerDeps,
  ) {
    super();
    this.opts = withDefaults(syncOptions, opts);
  }

  /** The current stage. */
  /** The last error of a stage (retried with backoff), until the stage next succeeds. */
  error(): string | undefined {
    return this.lastError;
  }

  current(): SyncStage {
    return this.stage;
  }

  /** The current stage's progress. */
  progress(): StageProgress | undefined {
    return this.prog;
  }

  start(): void {
    const { db } = this.deps;
    const info = db.syncInfo();
    if (info) {
      this.stage = info.stage;
      this.startingBlock = info.startingBlock;
      this.highest = info.highestBlock;
    } else if (db.chainInfo()) {
      // A database from before staged sync: it holds a chain already, follow it.
      this.stage = "HEAD";
      this.startingBlock = db.earliest();
    } else {
      // A new database: its history mode.
      db.setHistoryMode({
        mode: this.opts.history,
        blocks: this.opts.history === "full" ? this.opts.historyBlocks : 0,
      });
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.followerStarted) await this.deps.follower.stop();
  }

  /** Resolves once LIVE (for tests and tools), or rejects after `timeoutMs`. */
  async waitLive(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.stage !== "LIVE") {
      if (Date.now() > until) {
        throw new CommonError("INTERNAL", `not LIVE within ${timeoutMs} ms (stage ${this.stage})`, {
          lastError: this.lastError,
        });
      }
      await sleep(50);
    }
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const stage = this.stage;
      try {
        if (stage === "CHECKPOINT") await this.checkpoint();
        else if (stage === "BACKFILL") await this.backfill();
        else await this.follow();
        attempt = 0;
        this.lastError = undefined;
      } catch (err) {
        if (signal.aborted) break;
        const wait = backoffMs(attempt++, 500, 15_000);
        this.lastError = `${errorMessage(err)} (retry ${attempt} in ${(wait / 1000).toFixed(1)} s)`;
        this.deps.logger.warn(
          { stage, err: errorMessage(err), code: (err as ChainkeepError).code, retryInMs: wait },
          `sync stage ${stage} failed`,
        );
        this.writeInfo();
        await sleep(wait, signal);
      }
    }
  }

  private enter(stage: SyncStage, cursor?: { name: string; value: unknown }): void {
    const from = this.stage;
    this.stage = stage;
    this.writeInfo(cursor);
    if (from !== stage) {
      this.deps.logger.info(
        { from, to: stage, height: this.deps.db.progress()?.height },
        `sync stage ${stage}`,
      );
      this.emit("stage", stage);
    }
  }

  private info(): SyncInfo {
    const p = this.prog;
    const detail = p ? `${p.done}/${p.total} ${p.unit}, ${(p.bytes / 1e6).toFixed(1)} MB` : "";
    const current = this.stage === "CHECKPOINT" ? 0 : (this.deps.db.progress()?.height ?? 0);
    return {
      stage: this.stage,
      startingBlock: this.startingBlock,
      currentBlock: current,
      highestBlock: Math.max(this.highest, current),
      detail,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  private writeInfo(cursor?: { name: string; value: unknown }): void {
    this.deps.db.setSyncInfo(this.info(), cursor);
  }

  private report(p: Omit<StageProgress, "stage" | "startedMs" | "startDone">): void {
    if (!this.prog || this.prog.stage !== this.stage || this.prog.unit !== p.unit) {
      this.prog = { stage: this.stage, ...p, startedMs: Date.now(), startDone: p.done };
    } else {
      Object.assign(this.prog, p);
    }
    this.emit("progress", this.prog);
  }

  private async step(): Promise<void> {
    if (this.opts.syncStepDelay) await sleep(this.opts.syncStepDelay, this.abort.signal);
  }

  // ---- CHECKPOINT ----

  private async checkpoint(): Promise<void> {
    const { checkpoint, db, logger, prefix } = this.deps;
    if (db.chainInfo()) {
      this.enter("BACKFILL");
      return;
    }
    const meta = await checkpoint.meta();
    if (!meta) throw new SyncError("SYNC_SOURCE_EMPTY", `no chain under ${prefix} yet`);
    const cursor = db.cursor<CheckpointCursor>("checkpoint");
    const heights = !this.opts.snapshots ? [] : await checkpoint.snapshots();
    const height = cursor ? heights.find((h) => h === cursor.height) : heights[heights.length - 1];
    if (cursor && height === undefined) {
      throw new SyncError(
        "SYNC_SOURCE_EMPTY",
        `snapshot ${cursor.height} being restored is gone from the store: remove the data directory`,
        { height: cursor.height },
      );
    }
    if (height === undefined) {
      // No snapshot: start from the chain's start (its initial state, when the writer exported it).
      const state = await checkpoint.initialState(meta);
      db.initialise(
        {
          chainId: meta.chainId,
          earliest: meta.fromBlock,
          hasInitialState: state !== null,
          genesisHash: meta.genesisHash,
          prefix,
          reorgMax: meta.reorgMax,
        },
        state,
      );
      this.startingBlock = meta.fromBlock;
      logger.info({ earliest: meta.fromBlock }, "no snapshot: syncing from the chain's start");
      this.enter("BACKFILL");
      return;
    }
    const m = await checkpoint.manifest(height);
    this.startingBlock = m.height;
    this.highest = m.height;
    await this.restore(m, cursor?.chunksDone ?? 0);
  }

  private async restore(m: SnapshotManifest, firstChunk: number): Promise<void> {
    const { checkpoint, db, logger, prefix } = this.deps;
    const total = m.chunks.length;
    const bytes = m.chunks.slice(0, firstChunk).reduce((n, c) => n + c.size, 0);
    logger.info(
      { height: m.height, chunks: total, from: firstChunk, bytes: m.totals.bytes },
      "restoring snapshot",
    );
    this.report({ done: firstChunk, total, unit: "chunks", bytes });
    this.writeInfo({ name: "checkpoint", value: { height: m.height, chunksDone: firstChunk } });
    // The manifest's root is the header's, whose hash the head record names: checked before
    // anything is written. With verifyStateRoot, the chunks' contents are held to it too.
    const bundle = await checkpoint.block(m);
    const headerRoot = String(bundle.block.stateRoot ?? "").toLowerCase();
    if (m.stateRoot.toLowerCase() !== headerRoot) {
      throw new BundleError(
        "BUNDLE_STATE_ROOT",
        `snapshot ${m.height}: its manifest's state root is not the header's`,
        {
          height: m.height,
          manifest: m.stateRoot,
          header: headerRoot,
        },
      );
    }
    let roots: StateRootCheck | undefined;
    if (this.opts.verifyStateRoot) {
      if (!this.deps.stateRoot)
        throw new CommonError("CONFIG_INVALID", "verifyStateRoot needs a state-root check");
      roots = await this.deps.stateRoot(m.meta);
      // Chunks written before a restart are read again for the root.
      for (let i = 0; i < firstChunk; i++) roots.add((await this.fetchChunk(m, i)).accounts);
    }
    try {
      await this.restoreChunks(m, firstChunk, bytes, roots);
      if (this.abort.signal.aborted) return;
      if (roots) {
        const root = roots.root();
        if (root !== headerRoot) {
          throw new BundleError(
            "BUNDLE_STATE_ROOT",
            `snapshot ${m.height}: state root ${root} recomputed from its chunks differs from the header's ${headerRoot}`,
            { height: m.height, computed: root, header: headerRoot },
          );
        }
        logger.info(
          { height: m.height, stateRoot: root },
          "snapshot state root recomputed and equal to the header's",
        );
      }
    } finally {
      await roots?.close();
    }
    this.stage = "BACKFILL";
    db.finishRestore(
      {
        chainId: m.meta.chainId,
        earliest: m.height,
        hasInitialState: true,
        genesisHash: m.meta.genesisHash,
        prefix,
        reorgMax: m.meta.reorgMax,
      },
      bundle,
      m.record,
      this.info(),
    );
    logger.info({ height: m.height, chunks: total }, "snapshot restored");
    this.enter("BACKFILL");
  }

  /** Writes chunks `firstChunk` on in order (downloading ahead in parallel), feeding `roots`. */
  private async restoreChunks(
    m: SnapshotManifest,
    firstChunk: number,
    bytesBefore: number,
    roots: StateRootCheck | undefined,
  ): Promise<void> {
    const { db } = this.deps;
    const total = m.chunks.length;
    let bytes = bytesBefore;
    // Download ahead in parallel, write in order (the cursor counts chunks written).
    const conc = Math.max(1, this.opts.chunkConcurrency);
    const fetches = new Map<number, Promise<SnapshotChunk>>();
    const fetch = (i: number) => {
      if (i >= total || fetches.has(i)) return;
      const p = this.fetchChunk(m, i);
      p.catch(() => {});
      fetches.set(i, p);
    };
    for (let i = firstChunk; i < firstChunk + conc; i++) fetch(i);
    for (let i = firstChunk; i < total; i++) {
      if (this.abort.signal.aborted) return;
      fetch(i + conc);
      const chunk = await (fetches.get(i) as Promise<SnapshotChunk>);
      fetches.delete(i);
      roots?.add(chunk.accounts);
      db.restoreChunk(chunk.accounts, m.height, { height: m.height, chunksDone: i + 1 });
      bytes += m.chunks[i]?.size ?? 0;
      this.report({ done: i + 1, total, unit: "chunks", bytes });
      this.writeInfo();
      await this.step();
    }
  }

  // A chunk, fetched again (up to 3 times) when its checksum or contents are wrong.
  private async fetchChunk(m: SnapshotManifest, i: number): Promise<SnapshotChunk> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.deps.checkpoint.chunk(m, i);
      } catch (err) {
        const code = (err as ChainkeepError).code;
        if (attempt >= 2 || (code !== "BUNDLE_CHECKSUM" && code !== "BUNDLE_FORMAT")) throw err;
        this.deps.logger.warn(
          { key: m.chunks[i]?.key, err: errorMessage(err) },
          "snapshot chunk corrupt: fetching it again",
        );
        await sleep(backoffMs(attempt, 200, 2000), this.abort.signal);
      }
    }
  }

  // ---- BACKFILL ----

  private async backfill(): Promise<void> {
    const { backfill, db, logger } = this.deps;
    const from = (db.progress()?.height ?? db.earliest() - 1) + 1;
    // What the source serves from the applied height on without a gap.
    const target = !this.opts.segments ? from - 1 : await backfill.reach(from);
    if (target < from) {
      this.enter("HEAD");
      return;
    }
    this.highest = target;
    const history = db.historyMode();
    const compactBelow = history.mode === "full" ? target - history.blocks : undefined;
    const total = target - this.startingBlock;
    let bytes = 0;
    logger.info({ from, to: target }, "backfilling from segments");
    this.report({ done: from - 1 - this.startingBlock, total, unit: "blocks", bytes });
    this.writeInfo();
    for await (const batch of backfill.blocks(from, target, this.opts.backfillBatch)) {
      if (this.abort.signal.aborted) return;
      const last = batch[batch.length - 1];
      if (!last) break;
      for (const b of batch) bytes += b.bytes.length;
      this.report({ done: last.record.height - this.startingBlock, total, unit: "blocks", bytes });
      db.applyBlocks(
        batch.map((b) => ({ bundle: b.bundle, rec: b.record })),
        { compactBelow, sync: this.info() },
      );
      await this.step();
    }
    if ((db.progress()?.height ?? -1) >= target) this.enter("HEAD");
  }

  // ---- HEAD and LIVE ----

  private async follow(): Promise<void> {
    const { follower, db, logger } = this.deps;
    if (!this.followerStarted) {
      this.followerStarted = true;
      await follower.start();
    }
    const { liveLag, fallBehind } = this.opts;
    let lastWrite = 0;
    let lastProbe = 0;
    let storeTip = -1;
    let headStart: { height: number; ms: number } | undefined;
    while (!this.abort.signal.aborted) {
      const st = follower.status();
      const height = db.progress()?.height ?? -1;
      // The replicator lists a limited number of heads per round: probe the store's real tip.
      if (Date.now() - lastProbe > 500) {
        storeTip = await follower.writerTip(Math.max(st.storeHeight, height));
        lastProbe = Date.now();
      }
      if (storeTip >= 0) {
        this.highest = storeTip;
        const lag = Math.max(0, storeTip - height);
        if (this.stage === "HEAD") {
          headStart ??= { height, ms: Date.now() };
          this.report({
            done: height - headStart.height,
            total: storeTip - headStart.height,
            unit: "blocks",
            bytes: st.bytesApplied,
          });
          if (lag <= liveLag) this.enter("LIVE");
        } else if (this.stage === "LIVE" && lag > fallBehind) {
          logger.warn(
            { height, storeHeight: st.storeHeight, lag, fallBehind },
            "fell behind the writer: back to HEAD",
          );
          headStart = undefined;
          this.enter("HEAD");
        }
      }
      this.lastError = st.lastError;
      if (Date.now() - lastWrite > 1000 || this.stage !== db.syncInfo()?.stage) {
        this.writeInfo();
        lastWrite = Date.now();
      }
      await sleep(100, this.abort.signal);
    }
  }
}
