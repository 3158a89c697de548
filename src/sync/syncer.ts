import { EventEmitter } from "node:events";
import {
  listSegments,
  listSnapshots,
  readBlocks,
  readChunk,
  readManifest,
  readSnapshotBlock,
} from "../archive/index.ts";
import type { SnapshotManifest } from "../format/index.ts";
import type { ChainDb, Replicator } from "../reader/index.ts";
import type { ChainStore } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { ChainkeepError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import type { HistoryMode, SyncInfo, SyncStage } from "../view/index.ts";

/** Options of the staged sync. */
export interface SyncerOptions {
  /** Restore the newest snapshot in CHECKPOINT (default true); otherwise start from the chain's start. */
  useSnapshots?: boolean;
  /** Apply segments in BACKFILL (default true); otherwise go to HEAD at once. */
  useSegments?: boolean;
  /** LIVE once the applied height is within this many blocks of the store's head (default 2). */
  liveLag?: number;
  /** A LIVE reader more than this many blocks behind goes back to HEAD (default 256). */
  fallBehind?: number;
  /** History mode of a new database (default archive; the CLI's default is full, 128 blocks). */
  history?: HistoryMode;
  /** Blocks per BACKFILL transaction (default 256). */
  batchBlocks?: number;
  /** Snapshot chunks downloaded in parallel (default 4). */
  chunkConcurrency?: number;
  /** Pause after each unit of work (a chunk, a batch), in ms: for tests that stop a stage midway. */
  stepDelayMs?: number;
}

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
  private replicatorStarted = false;
  private prog: StageProgress | undefined;
  /** Bundle bytes applied by the replicator (HEAD's progress). */
  private headBytes = 0;

  constructor(
    private readonly opts: SyncerOptions,
    private readonly deps: { chain: ChainStore; db: ChainDb; replicator: Replicator; logger: Logger },
  ) {
    super();
  }

  /** The current stage. */
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
    } else if (db.historyMode().mode === "archive" && this.opts.history) {
      db.setHistoryMode(this.opts.history);
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.replicatorStarted) await this.deps.replicator.stop();
  }

  /** Resolves once LIVE (for tests and tools), or rejects after `timeoutMs`. */
  async waitLive(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.stage !== "LIVE") {
      if (Date.now() > until) {
        throw new ChainkeepError("INTERNAL", `not LIVE within ${timeoutMs} ms (stage ${this.stage})`, {
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
    if (this.opts.stepDelayMs) await sleep(this.opts.stepDelayMs, this.abort.signal);
  }

  // ---- CHECKPOINT ----

  private async checkpoint(): Promise<void> {
    const { chain, db, logger } = this.deps;
    if (db.chainInfo()) {
      this.enter("BACKFILL");
      return;
    }
    const meta = await chain.readMeta();
    if (!meta)
      throw new ChainkeepError("STORE_NOT_FOUND", `no chain ${chain.chainId} under ${chain.prefix} yet`);
    const cursor = db.cursor<CheckpointCursor>("checkpoint");
    const snapshots = this.opts.useSnapshots === false ? [] : await listSnapshots(chain);
    const ref = cursor ? snapshots.find((s) => s.height === cursor.height) : snapshots[snapshots.length - 1];
    if (cursor && !ref) {
      throw new ChainkeepError(
        "STORE_NOT_FOUND",
        `snapshot ${cursor.height} being restored is gone from the store: remove the data directory`,
        { height: cursor.height },
      );
    }
    if (!ref) {
      // No snapshot: start from the chain's start (its initial state, when the writer exported it).
      const state = meta.initialState
        ? await chain.readInitialState(meta.initialState.key, meta.initialState.sha256)
        : null;
      db.initialise(
        {
          chainId: meta.chainId,
          earliest: meta.fromBlock,
          hasInitialState: state !== null,
          genesisHash: meta.genesisHash,
          prefix: chain.prefix,
        },
        state,
      );
      this.startingBlock = meta.fromBlock;
      logger.info({ earliest: meta.fromBlock }, "no snapshot: syncing from the chain's start");
      this.enter("BACKFILL");
      return;
    }
    const m = await readManifest(chain, ref);
    this.startingBlock = m.height;
    this.highest = m.height;
    await this.restore(m, cursor?.chunksDone ?? 0);
  }

  private async restore(m: SnapshotManifest, firstChunk: number): Promise<void> {
    const { chain, db, logger } = this.deps;
    const total = m.chunks.length;
    let bytes = m.chunks.slice(0, firstChunk).reduce((n, c) => n + c.size, 0);
    logger.info(
      { height: m.height, chunks: total, from: firstChunk, bytes: m.totals.bytes },
      "restoring snapshot",
    );
    this.report({ done: firstChunk, total, unit: "chunks", bytes });
    this.writeInfo({ name: "checkpoint", value: { height: m.height, chunksDone: firstChunk } });
    // Download ahead in parallel, write in order (the cursor counts chunks written).
    const conc = Math.max(1, this.opts.chunkConcurrency ?? 4);
    const fetches = new Map<number, Promise<Awaited<ReturnType<typeof readChunk>>>>();
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
      const chunk = await (fetches.get(i) as Promise<Awaited<ReturnType<typeof readChunk>>>);
      fetches.delete(i);
      db.restoreChunk(chunk.accounts, m.height, { height: m.height, chunksDone: i + 1 });
      bytes += m.chunks[i]?.size ?? 0;
      this.report({ done: i + 1, total, unit: "chunks", bytes });
      this.writeInfo();
      await this.step();
    }
    const bundle = await readSnapshotBlock(chain, m);
    this.stage = "BACKFILL";
    db.finishRestore(
      {
        chainId: m.meta.chainId,
        earliest: m.height,
        hasInitialState: true,
        genesisHash: m.meta.genesisHash,
        prefix: chain.prefix,
      },
      bundle,
      m.record,
      this.info(),
    );
    logger.info({ height: m.height, chunks: total, bytes }, "snapshot restored");
    this.enter("BACKFILL");
  }

  // A chunk, fetched again (up to 3 times) when its checksum or contents are wrong.
  private async fetchChunk(m: SnapshotManifest, i: number) {
    const ref = m.chunks[i];
    if (!ref) throw new ChainkeepError("INTERNAL", `no chunk ${i}`);
    for (let attempt = 0; ; attempt++) {
      try {
        return await readChunk(this.deps.chain, ref);
      } catch (err) {
        const code = (err as ChainkeepError).code;
        if (attempt >= 2 || (code !== "BUNDLE_CHECKSUM" && code !== "BUNDLE_FORMAT")) throw err;
        this.deps.logger.warn(
          { key: ref.key, err: errorMessage(err) },
          "snapshot chunk corrupt: fetching it again",
        );
        await sleep(backoffMs(attempt, 200, 2000), this.abort.signal);
      }
    }
  }

  // ---- BACKFILL ----

  private async backfill(): Promise<void> {
    const { chain, db, logger } = this.deps;
    const from = (db.progress()?.height ?? db.earliest() - 1) + 1;
    const segments = this.opts.useSegments === false ? [] : await listSegments(chain);
    // Segments reachable from the applied height without a gap.
    let target = from - 1;
    for (const s of segments) if (s.from <= target + 1 && s.to > target) target = s.to;
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
    for await (const batch of readBlocks(chain, from, target, {
      segmentsOnly: true,
      batch: this.opts.batchBlocks ?? 256,
    })) {
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

  /**
   * The writer's tip on the line the replicator follows (a switch changes it): the highest height
   * with a head record, searching up from `known` (galloping, then bisecting), then the newest
   * record by write time within a reorg window below it, since records of an old branch stay above
   * the tip after a reorg to a shorter chain (the writer marks its new tip with a newer record).
   */
  private async probeTip(known: number): Promise<number> {
    const chain = this.deps.replicator.line;
    let lo = Math.max(known, 0);
    if (!(await chain.hasHead(lo))) return known;
    let step = 1;
    while (await chain.hasHead(lo + step)) {
      lo += step;
      step *= 2;
    }
    let hi = lo + step;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await chain.hasHead(mid)) lo = mid;
      else hi = mid;
    }
    const window = this.deps.db.chainInfo()?.reorgMax ?? 64;
    let newest: { height: number; writeTs: number } | undefined;
    for (const r of await chain.listHeads(Math.max(0, lo - window), 4 * (window + 1))) {
      if (r.height <= lo && (!newest || r.writeTs > newest.writeTs)) newest = r;
    }
    return newest?.height ?? lo;
  }

  private async follow(): Promise<void> {
    const { replicator, db, logger } = this.deps;
    if (!this.replicatorStarted) {
      this.replicatorStarted = true;
      replicator.on("applied", (b) => {
        this.headBytes += b.record.size;
      });
      await replicator.start();
    }
    const liveLag = this.opts.liveLag ?? 2;
    const fallBehind = this.opts.fallBehind ?? 256;
    let lastWrite = 0;
    let lastProbe = 0;
    let storeTip = -1;
    let headStart: { height: number; ms: number } | undefined;
    while (!this.abort.signal.aborted) {
      const st = replicator.status();
      const height = db.progress()?.height ?? -1;
      // The replicator lists a limited number of heads per round: probe the store's real tip.
      if (Date.now() - lastProbe > 500) {
        storeTip = await this.probeTip(Math.max(st.storeHeight, height));
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
            bytes: this.headBytes,
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
