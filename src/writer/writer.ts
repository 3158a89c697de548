import { EventEmitter } from "node:events";
import type { Bus } from "../bus/index.ts";
import { type Bundle, type ChainMeta, FORMAT_VERSION, type RpcBlock } from "../format/index.ts";
import type { ChainStore, HeadRef } from "../store/index.ts";
import type { Upstream } from "../upstream/index.ts";
import { backoffMs, type Clock, sleep } from "../util/clock.ts";
import { type ChainkeepError, CommonError, errorMessage, isErrorCode } from "../util/errors.ts";
import { quantityToNumber, toQuantity } from "../util/hex.ts";
import type { Logger } from "../util/logger.ts";
import { type PartialOptions, withDefaults } from "../util/options.ts";
import { CommittedState } from "./continuity.ts";
import { type Capabilities, type FetchedBlock, fetchBlock } from "./fetch.ts";
import { exportHeadState, rollBack } from "./initial-state.ts";
import { type WriterOptions, writerOptions } from "./options.ts";

/** Everything a writer needs. */
export interface WriterDeps {
  upstream: Upstream;
  chain: ChainStore;
  bus: Bus;
  clock: Clock;
  logger: Logger;
}

/** What a writer reports about itself. */
export interface WriterStatus {
  chainId: number;
  /** Highest committed height, or -1 before the first commit. */
  height: number;
  /** Upstream head height last seen. */
  upstreamHeight: number;
  /** upstreamHeight − height. */
  lag: number;
  /** The last error, cleared by the next successful commit. */
  lastError?: string;
  blocksCommitted: number;
  txsCommitted: number;
  /** Reorgs followed since start. */
  reorgs: number;
  /** Set while the writer refuses to follow a reorg deeper than `reorgMax`. */
  halted?: DeepReorg;
  /** True while the object store fails (the writer is stalled at `height`, retrying). */
  storeUnavailable?: boolean;
}

/** A reorg the writer will not follow without an operator. */
export interface DeepReorg {
  /** Height where the upstream's chain and the committed one first differ (ancestor + 1). */
  height: number;
  /** Committed hash at `height`. */
  committedHash: string;
  /** The upstream's hash at `height`. */
  upstreamHash: string;
  /** Committed blocks the reorg replaces (at least; ancestor not found within the window when unknown). */
  depth: number;
  reorgMax: number;
}

/** Thrown inside the loop when the upstream no longer extends the committed chain. */
class ReorgSignal extends Error {
  constructor(readonly top: number) {
    super(`reorg below ${top}`);
  }
}

/**
 * Follows one upstream chain and commits every block to the object store: bundle first, head
 * record second, then the bus notice. Resumes from the last committed height; never skips one.
 */
export class Writer extends EventEmitter<{ commit: [{ height: number; hash: string; txs: number }] }> {
  private readonly caps: Capabilities = {};
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastWriteTs = 0;
  private nextHeight = 0;
  private lastHash: string | undefined;
  private fromBlock = 0;
  /** Committed canonical hashes of recent heights (the reorg window and some). */
  private readonly recent = new Map<number, string>();
  /** Post-values of recently committed blocks, which the next blocks' pre-values must match. */
  private readonly committed = new CommittedState();
  private resumeApproved = false;
  /** Since when (ms) the object store has been failing, while it is. */
  private storeDownSince: number | undefined;
  private readonly st: WriterStatus;
  private readonly opts: WriterOptions;

  constructor(
    opts: PartialOptions<typeof writerOptions>,
    private readonly deps: WriterDeps,
  ) {
    super();
    this.opts = withDefaults(writerOptions, opts);
    this.st = {
      chainId: deps.chain.chainId,
      height: -1,
      upstreamHeight: -1,
      lag: 0,
      blocksCommitted: 0,
      txsCommitted: 0,
      reorgs: 0,
    };
  }

  private get reorgMax(): number {
    return this.opts.reorgMax;
  }

  /**
   * Lets a halted writer follow the deep reorg it refused (an operator's decision), then carry on.
   * Returns false when the writer is not halted.
   */
  resume(): boolean {
    if (!this.st.halted) return false;
    this.resumeApproved = true;
    this.deps.logger.warn({ reorg: this.st.halted }, "operator resumed the writer: following the deep reorg");
    this.wake?.();
    return true;
  }

  status(): WriterStatus {
    return { ...this.st };
  }

  /** Initialises the chain in the store if needed and starts following the upstream. */
  async start(): Promise<void> {
    const meta = await this.retry("initialise", () => this.initialise());
    if (meta === undefined) return;
    // The store may be away at start as well as later: wait for it rather than give up.
    if ((await this.retry("read the committed chain", () => this.loadCommitted(meta))) === undefined) return;
    this.fromBlock = meta.fromBlock;
    this.deps.logger.info({ next: this.nextHeight, fromBlock: meta.fromBlock }, "writer resuming");
    await this.startSubscription();
    this.loop = this.run();
  }

  /** Finds the committed tip and the window's canonical hashes in the store. */
  private async loadCommitted(meta: ChainMeta): Promise<true> {
    const last = await this.deps.chain.lastHeight(meta.fromBlock);
    if (last === undefined) {
      this.nextHeight = meta.fromBlock;
      return true;
    }
    // The tip is the newest head record, which is not the highest one when a reorg to a
    // shorter chain left records of the old branch above it.
    const refs = await this.deps.chain.listHeads(Math.max(meta.fromBlock, last - 3 * this.reorgMax), 100_000);
    let tip: HeadRef | undefined;
    for (const r of refs) if (!tip || r.writeTs > tip.writeTs) tip = r;
    if (!tip) throw new CommonError("INTERNAL", `head at ${last} vanished`);
    // Remember the canonical hashes of the window, to find a common ancestor after a reorg.
    for (const r of refs) if (r.height <= tip.height) this.recent.set(r.height, r.hash);
    this.nextHeight = tip.height + 1;
    this.lastHash = tip.hash;
    this.lastWriteTs = tip.writeTs;
    this.st.height = tip.height;
    return true;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    this.unsubscribe?.();
    await this.loop;
  }

  private async startSubscription(): Promise<void> {
    if (!this.opts.subscribe || !this.deps.upstream.canSubscribe || this.abort.signal.aborted) return;
    try {
      this.unsubscribe = await this.deps.upstream.subscribeNewHeads(
        () => this.wake?.(),
        () => {
          this.unsubscribe = undefined;
          if (this.abort.signal.aborted) return;
          this.deps.logger.warn("upstream newHeads subscription closed; polling until it is back");
          setTimeout(() => void this.startSubscription(), 1000);
        },
      );
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, "newHeads subscription failed; polling");
      setTimeout(() => void this.startSubscription(), 5000);
    }
  }

  /**
   * Notes a failure of the object store: the first one of an outage is logged as such (the
   * writer stalls at its height and retries until the store is back; it never skips a block).
   * True when `err` is a store failure.
   */
  private storeFailed(err: unknown): boolean {
    if (!isErrorCode(err, "STORE_UNAVAILABLE") && !isErrorCode(err, "STORE_IO")) return false;
    if (this.storeDownSince === undefined) {
      this.storeDownSince = Date.now();
      this.st.storeUnavailable = true;
      this.deps.logger.error(
        { err: errorMessage(err), code: err.code, next: this.nextHeight },
        "object store unreachable: writer stalled, retrying until it is back (no block is skipped)",
      );
    }
    return true;
  }

  /** The store answered again after an outage. */
  private storeBack(): void {
    if (this.storeDownSince === undefined) return;
    this.deps.logger.warn(
      { stalledMs: Date.now() - this.storeDownSince, next: this.nextHeight },
      "object store reachable again: writer resumed",
    );
    this.storeDownSince = undefined;
    this.st.storeUnavailable = false;
  }

  /** Runs `fn` until it succeeds or the writer stops, with backoff; undefined when stopped. */
  private async retry<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      try {
        const v = await fn();
        this.storeBack();
        return v;
      } catch (err) {
        this.storeFailed(err);
        this.st.lastError = `${what}: ${errorMessage(err)}`;
        const delay = backoffMs(attempt);
        this.deps.logger.warn(
          { err: errorMessage(err), code: (err as ChainkeepError).code, attempt, delay },
          `${what} failed`,
        );
        await sleep(delay, this.abort.signal);
      }
    }
    return undefined;
  }

  private async initialise(): Promise<ChainMeta> {
    const existing = await this.deps.chain.readMeta();
    if (existing) return existing;
    const up = this.deps.upstream;
    const chainId = quantityToNumber(await up.request<string>("eth_chainId"));
    if (chainId !== this.deps.chain.chainId) {
      throw new CommonError(
        "CONFIG_INVALID",
        `upstream chain id ${chainId} ≠ configured ${this.deps.chain.chainId}`,
      );
    }
    const genesis = await up.request<RpcBlock>("eth_getBlockByNumber", ["0x0", false]);
    const client = await up.request<string>("web3_clientVersion").catch(() => "unknown");
    const fromBlock = this.opts.fromBlock;
    let initialState: ChainMeta["initialState"] = null;
    const exported = this.opts.initialState === "none" ? undefined : await exportHeadState(up, this.deps);
    if (exported && exported.dump.height >= fromBlock) {
      // The export is at the upstream's head; roll it back to fromBlock through the diffs.
      const dump = exported.dump;
      for (let h = dump.height; h > fromBlock; h--) {
        const f = await fetchBlock(up, h, this.caps, "off", this.opts.diffSource);
        rollBack(dump, f.diff, f.diff.codes);
      }
      const b = await up.request<RpcBlock>("eth_getBlockByNumber", [toQuantity(fromBlock), false]);
      dump.height = fromBlock;
      dump.blockHash = b.hash;
      const { key, sha256 } = await this.deps.chain.writeInitialState(dump);
      initialState = { key, sha256, height: fromBlock, method: exported.method };
    }
    const meta: ChainMeta = {
      version: FORMAT_VERSION,
      chainId,
      genesisHash: genesis.hash,
      reorgMax: this.opts.reorgMax,
      fromBlock,
      initialState,
      upstreamClient: client,
    };
    await this.deps.chain.writeMeta(meta);
    this.deps.logger.info(
      { fromBlock, initialState: initialState?.method ?? "none" },
      "chain initialised in the store",
    );
    return meta;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const head = quantityToNumber(await this.deps.upstream.request<string>("eth_blockNumber"));
        this.st.upstreamHeight = head;
        // A head below what was committed: the upstream went back (a reorg to a shorter chain).
        if (head < this.st.height && !this.st.halted) await this.followReorg(head + 1);
        if (this.st.halted) {
          if (this.resumeApproved) await this.followReorg(this.st.halted.height);
        } else if (this.nextHeight > head && this.lastHash !== undefined && this.st.height >= 0) {
          // Nothing new: make sure the committed tip is still the upstream's (a reorg may keep
          // the height, and not every upstream announces it).
          const tip = await this.deps.upstream.request<{ hash: string } | null>("eth_getBlockByNumber", [
            toQuantity(this.st.height),
            false,
          ]);
          if (tip && tip.hash !== this.lastHash) await this.followReorg(this.st.height);
        }
        if (!this.st.halted && this.nextHeight <= head) {
          const marks = await this.safeAndFinalized();
          // Fetch up to `prefetch` blocks ahead while committing in order; a failure discards
          // the fetches and the round starts again from the last committed height.
          const ahead = new Map<number, Promise<FetchedBlock>>();
          const fetchAt = (h: number) => {
            let p = ahead.get(h);
            if (!p) {
              p = fetchBlock(this.deps.upstream, h, this.caps, this.opts.crossCheck, this.opts.diffSource);
              p.catch(() => {});
              ahead.set(h, p);
            }
            return p;
          };
          const depth = Math.max(1, this.opts.prefetch);
          while (this.nextHeight <= head && !signal.aborted) {
            const last = Math.min(head, this.nextHeight + depth - 1);
            for (let h = this.nextHeight; h <= last; h++) fetchAt(h);
            const f = await fetchAt(this.nextHeight);
            ahead.delete(this.nextHeight);
            await this.commit(f, head, marks);
          }
        }
        this.st.lag = Math.max(0, head - this.st.height);
        attempt = 0;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.opts.pollInterval);
          this.wake = done;
          function done() {
            clearTimeout(t);
            signal.removeEventListener("abort", done);
            resolve();
          }
          signal.addEventListener("abort", done, { once: true });
        });
      } catch (err) {
        if (err instanceof ReorgSignal) {
          await this.followReorg(err.top).catch((e) => {
            this.st.lastError = errorMessage(e);
            this.deps.logger.warn({ err: errorMessage(e) }, "reorg handling failed; retrying");
          });
          continue;
        }
        this.st.lastError = errorMessage(err);
        const storeDown = this.storeFailed(err);
        const delay = backoffMs(attempt++, 200, storeDown ? 5_000 : 10_000);
        this.deps.logger[storeDown ? "debug" : "warn"](
          { err: errorMessage(err), code: (err as ChainkeepError).code, height: this.nextHeight, delay },
          "commit failed; retrying",
        );
        await sleep(delay, signal);
      }
    }
  }

  private async commit(f: FetchedBlock, upstreamHead: number, marks: [number, number]): Promise<void> {
    const height = this.nextHeight;
    if (this.lastHash !== undefined && f.block.parentHash !== this.lastHash) {
      // The upstream's block does not extend what was committed: find where they part.
      throw new ReorgSignal(height);
    }
    const [safe, finalized] = [Math.min(marks[0], height), Math.min(marks[1], height)];
    const bundle: Bundle = {
      version: FORMAT_VERSION,
      chainId: this.deps.chain.chainId,
      block: f.block,
      receipts: f.receipts,
      diff: f.diff,
    };
    this.committed.check(height, f.diff);
    const writeTs = Math.max(this.deps.clock.now(), this.lastWriteTs + 1);
    const rec = await this.deps.chain.commit(bundle, writeTs, { safe, finalized });
    this.committed.record(f.diff);
    this.storeBack();
    this.lastWriteTs = writeTs;
    this.lastHash = rec.hash;
    this.nextHeight = height + 1;
    this.recent.set(height, rec.hash);
    this.recent.delete(height - 2 * this.reorgMax - 1);
    this.st.height = height;
    this.st.lag = Math.max(0, upstreamHead - height);
    this.st.blocksCommitted++;
    this.st.txsCommitted += f.block.transactions.length;
    this.st.lastError = undefined;
    await this.deps.bus
      .publish({ chainId: rec.chainId, prefix: this.deps.chain.prefix, height, hash: rec.hash, writeTs })
      .catch((err) =>
        this.deps.logger.warn({ err: errorMessage(err) }, "bus publish failed (readers will poll)"),
      );
    this.emit("commit", { height, hash: rec.hash, txs: f.block.transactions.length });
  }

  /**
   * Walks back from `top` (the first height whose upstream block no longer fits) to the highest
   * height where the upstream and the committed chain agree, and restarts committing above it
   * (heights are rewritten with newer write timestamps). A reorg deeper than `reorgMax` halts the
   * writer until `resume()`.
   */
  private async followReorg(top: number): Promise<void> {
    const committedTop = this.st.height;
    const floor = Math.max(this.fromBlock, committedTop - 2 * this.reorgMax);
    let ancestor: number | undefined;
    let firstDiff = Math.min(top, committedTop + 1);
    for (let hi = Math.min(top, committedTop); hi >= floor && ancestor === undefined; hi -= 16) {
      const lo = Math.max(floor, hi - 15);
      const heights = Array.from({ length: hi - lo + 1 }, (_, i) => hi - i);
      const res = await this.deps.upstream.batch(
        heights.map((h) => ({ method: "eth_getBlockByNumber", params: [toQuantity(h), false] })),
      );
      for (const [i, h] of heights.entries()) {
        const r = res[i];
        const theirs = r instanceof Error || !r ? undefined : (r as { hash: string }).hash;
        if (theirs !== undefined && theirs === this.recent.get(h)) {
          ancestor = h;
          break;
        }
        firstDiff = h;
      }
    }
    const depth = ancestor === undefined ? committedTop - floor + 1 : committedTop - ancestor;
    if (depth > this.reorgMax && !this.resumeApproved) {
      const upstreamBlock = await this.deps.upstream
        .request<{ hash: string } | null>("eth_getBlockByNumber", [toQuantity(firstDiff), false])
        .catch(() => null);
      const halted: DeepReorg = {
        height: firstDiff,
        committedHash: this.recent.get(firstDiff) ?? "unknown",
        upstreamHash: upstreamBlock?.hash ?? "none",
        depth,
        reorgMax: this.reorgMax,
      };
      if (!this.st.halted) {
        this.deps.logger.error(
          halted,
          `reorg of ${depth} blocks exceeds reorgMax ${this.reorgMax}: not committing until an operator resumes`,
        );
      }
      this.st.halted = halted;
      this.st.lastError = `deep reorg at ${firstDiff} (${depth} > ${this.reorgMax}): halted`;
      return;
    }
    if (ancestor === undefined) {
      throw new CommonError("INTERNAL", `no common ancestor with the upstream above ${floor}`, { floor });
    }
    this.deps.logger.warn(
      { ancestor, depth, from: ancestor + 1, committedTop },
      `reorg: rewriting from height ${ancestor + 1}`,
    );
    for (let h = ancestor + 1; h <= committedTop; h++) this.recent.delete(h);
    this.committed.clear();
    if (this.st.upstreamHeight <= ancestor) {
      // The upstream went back to a shorter chain and has nothing above the ancestor yet: mark
      // the ancestor as the tip (a newer head record for it), so that readers unwind the heights
      // above it now rather than when the chain grows past them again.
      const ref = await this.deps.chain.canonicalHead(ancestor);
      if (ref) {
        const writeTs = Math.max(this.deps.clock.now(), this.lastWriteTs + 1);
        const rec = await this.deps.chain.remark(await this.deps.chain.readHead(ref), writeTs);
        this.lastWriteTs = writeTs;
        await this.deps.bus
          .publish({
            chainId: rec.chainId,
            prefix: this.deps.chain.prefix,
            height: ancestor,
            hash: rec.hash,
            writeTs,
          })
          .catch(() => {});
      }
    }
    this.nextHeight = ancestor + 1;
    this.lastHash = this.recent.get(ancestor);
    this.st.height = ancestor;
    this.st.reorgs++;
    this.st.halted = undefined;
    this.resumeApproved = false;
  }

  /** The upstream's current safe and finalized heights (0 when it has no such tags). */
  private async safeAndFinalized(): Promise<[number, number]> {
    const res = await this.deps.upstream.batch([
      { method: "eth_getBlockByNumber", params: ["safe", false] },
      { method: "eth_getBlockByNumber", params: ["finalized", false] },
    ]);
    const num = (r: unknown) => {
      if (r instanceof Error || !r) return 0;
      return quantityToNumber((r as { number: string }).number);
    };
    return [num(res[0]), num(res[1])];
  }
}
