/**
 * An archiver's local copy of one writer line (`ArchiveKeeper`): everything the store holds for
 * the chain (the descriptor and initial state, head records, the bundles the store still holds,
 * segments, snapshots) copied into a local store (a directory store: each object fsynced and
 * renamed into place before `put` returns), each object verified before it is written, and the
 * durable height: the highest height up to which every block's data is local.
 */
import {
  type HeadRecord,
  headsPrefix,
  metaKey,
  padHeight,
  parseHeadKey,
  sha256Hex,
} from "../format/index.ts";
import type { ChainStore, HeadRef } from "../store/index.ts";
import { backoffMs, sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { deleteBundles, listSegments, type SegmentRef, verifySegment } from "./segments.ts";
import { listSnapshots, readChunk, readManifest, readSnapshotBlock, type SnapshotRef } from "./snapshot.ts";

/** What the keeper reports. */
export interface KeeperStatus {
  /** Highest height whose block data (bundle or segment) and every height's below it are local. */
  durableHeight: number;
  /** Highest head record copied. */
  copiedHeight: number;
  /** Objects and bytes copied since start. */
  objects: number;
  bytes: number;
  /** Objects refused by verification since start. */
  refused: number;
  segments: number;
  snapshots: number;
  passes: number;
  lastError?: string;
}

/** Options of the keeper. */
export interface KeeperOptions {
  /** Pause between copy passes, in ms. */
  interval: number;
  /** Head records listed per page. */
  listLimit?: number;
}

/**
 * Copies a writer line from `remote` into `local` and keeps it up to date, one pass every
 * `interval` ms. Order keeps the local copy a valid store at every moment: a bundle before its
 * head record, a segment's data before its index, a snapshot's chunks and block before its
 * manifest; local per-block bundles a local segment covers are dropped as the store drops them.
 */
export class ArchiveKeeper {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly st: KeeperStatus = {
    durableHeight: -1,
    copiedHeight: -1,
    objects: 0,
    bytes: 0,
    refused: 0,
    segments: 0,
    snapshots: 0,
    passes: 0,
  };
  private segmentsHeld: SegmentRef[] = [];

  constructor(
    private readonly opts: KeeperOptions,
    private readonly deps: { remote: ChainStore; local: ChainStore; logger: Logger },
  ) {}

  status(): KeeperStatus {
    return { ...this.st };
  }

  start(): void {
    this.loop ??= (async () => {
      let attempt = 0;
      while (!this.abort.signal.aborted) {
        try {
          await this.passOnce();
          attempt = 0;
          await sleep(this.opts.interval, this.abort.signal);
        } catch (err) {
          if (this.abort.signal.aborted) return;
          this.st.lastError = errorMessage(err);
          this.deps.logger.warn({ err: this.st.lastError }, "archive copy pass failed");
          await sleep(backoffMs(attempt++, 500, 30_000), this.abort.signal);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** One pass: descriptor and initial state, segments, head records and bundles, snapshots. */
  async passOnce(): Promise<void> {
    const { remote, local, logger } = this.deps;
    const metaBytes = await remote.store.get(metaKey(remote.root));
    if (!metaBytes) return; // no chain yet
    const meta = await remote.readMeta();
    if (!meta) return;
    if (meta.initialState && !(await local.store.get(meta.initialState.key))) {
      await remote.readInitialState(meta.initialState.key, meta.initialState.sha256);
      await this.copyRaw(meta.initialState.key);
    }
    const held = await local.store.get(metaKey(local.root));
    if (!held || sha256Hex(held) !== sha256Hex(metaBytes)) await this.put(metaKey(local.root), metaBytes);
    await this.copySegments();
    const tip = await this.copyHeads(meta.fromBlock, meta.reorgMax);
    await this.copySnapshots();
    // Bundles a local segment holds, deeper than the reorg window, go (the store drops them too).
    for (const s of this.segmentsHeld) {
      if (tip !== undefined && s.to < tip - meta.reorgMax && s.to > this.pruned) {
        await deleteBundles(local, Math.max(s.from, this.pruned + 1), s.to);
        this.pruned = s.to;
      }
    }
    this.st.durableHeight = await this.durable(meta.fromBlock, meta.reorgMax);
    this.st.passes++;
    this.st.lastError = undefined;
    logger.debug({ ...this.st }, "archive copy pass");
  }

  private pruned = -1;

  private async put(key: string, data: Uint8Array): Promise<void> {
    await this.deps.local.store.put(key, data);
    this.st.objects++;
    this.st.bytes += data.length;
  }

  private async copyRaw(key: string): Promise<Uint8Array | undefined> {
    const data = await this.deps.remote.store.get(key);
    if (data) await this.put(key, data);
    return data;
  }

  private refuse(key: string, err: unknown): void {
    this.st.refused++;
    this.deps.logger.warn({ key, err: errorMessage(err) }, "archive copy: object refused");
  }

  private async copySegments(): Promise<void> {
    const { remote, local } = this.deps;
    const have = new Set((await listSegments(local)).map((s) => s.indexKey));
    for (const s of await listSegments(remote)) {
      if (have.has(s.indexKey)) continue;
      try {
        await verifySegment(remote, s);
      } catch (err) {
        this.refuse(s.dataKey, err);
        continue;
      }
      await this.copyRaw(s.dataKey);
      await this.copyRaw(s.indexKey);
      this.st.segments++;
    }
    this.segmentsHeld = await listSegments(local);
  }

  /** Copies head records (and their bundles, where the store holds them); returns the store's top. */
  private async copyHeads(fromBlock: number, reorgMax: number): Promise<number | undefined> {
    const { remote, local } = this.deps;
    const limit = this.opts.listLimit ?? 1000;
    let from = Math.max(fromBlock, this.st.durableHeight - 2 * reorgMax);
    let top: number | undefined;
    for (;;) {
      const refs = await remote.listHeads(from, limit);
      if (refs.length === 0) break;
      const have = new Set((await local.listHeads(from, limit * 2)).map((r) => r.key));
      for (const ref of refs) {
        top = Math.max(top ?? ref.height, ref.height);
        if (have.has(ref.key)) continue;
        await this.copyHead(ref);
      }
      if (refs.length < limit) break;
      const last = refs[refs.length - 1] as HeadRef;
      from = last.height === from ? from + 1 : last.height;
    }
    return top;
  }

  private async copyHead(ref: HeadRef): Promise<void> {
    const { remote } = this.deps;
    let rec: HeadRecord;
    try {
      rec = await remote.readHead(ref);
    } catch (err) {
      this.refuse(ref.key, err);
      return;
    }
    const data = await remote.store.get(rec.bundleKey);
    if (data) {
      try {
        await remote.verifyBundle(rec, data);
      } catch (err) {
        this.refuse(rec.bundleKey, err);
        return;
      }
      await this.put(rec.bundleKey, data);
    } else if (!this.inSegment(rec)) {
      // Neither the bundle nor a segment holding it: wait for the segment the store packed it in.
      return;
    }
    await this.put(ref.key, Buffer.from(JSON.stringify(rec)));
    this.st.copiedHeight = Math.max(this.st.copiedHeight, rec.height);
  }

  private inSegment(rec: HeadRecord): boolean {
    return this.segmentsHeld.some((s) => s.from <= rec.height && rec.height <= s.to);
  }

  private async copySnapshots(): Promise<void> {
    const { remote, local } = this.deps;
    const have = new Set((await listSnapshots(local)).map((s) => s.height));
    for (const ref of await listSnapshots(remote)) {
      if (have.has(ref.height)) continue;
      await this.copySnapshot(remote, ref).catch((err) => this.refuse(ref.manifestKey, err));
    }
  }

  /** Copies one snapshot from `from` into the local store, each part verified, the manifest last. */
  private async copySnapshot(from: ChainStore, ref: SnapshotRef): Promise<void> {
    const m = await readManifest(from, ref);
    await readSnapshotBlock(from, m);
    for (const c of m.chunks) await readChunk(from, c);
    for (const c of m.chunks) await this.copyRaw(c.key);
    await this.copyRaw(m.block.key);
    await this.copyRaw(ref.manifestKey);
    this.st.snapshots++;
  }

  /**
   * The highest height h such that every height from `fromBlock` to h has its canonical block's
   * data locally (a local segment holding it, or its bundle) and links to the one below. Heights
   * below the last durable height less the reorg window are not checked again.
   */
  private async durable(fromBlock: number, reorgMax: number): Promise<number> {
    const { local } = this.deps;
    let h = fromBlock - 1;
    for (const s of this.segmentsHeld) {
      if (s.from > h + 1) break;
      if (s.to > h) h = s.to;
    }
    const start = Math.max(fromBlock, h + 1, this.st.durableHeight - reorgMax);
    if (start > h + 1) h = start - 1;
    const after = (prefix: string) => `${prefix}${padHeight(start - 1)}/~`;
    const heads = await local.store.list(headsPrefix(local.root), {
      startAfter: after(headsPrefix(local.root)),
    });
    const bundles = new Set(
      await local.store.list(`${local.root}blocks/`, { startAfter: after(`${local.root}blocks/`) }),
    );
    const canonical = new Map<number, HeadRef>();
    for (const key of heads) {
      const p = parseHeadKey(local.root, key);
      if (p) canonical.set(p.height, { key, ...p });
    }
    let parent: string | undefined;
    for (let x = start; ; x++) {
      const ref = canonical.get(x);
      if (!ref) break;
      const rec = await local.readHead(ref).catch(() => undefined);
      if (!rec || (parent !== undefined && rec.parentHash !== parent)) break;
      if (!bundles.has(rec.bundleKey)) break;
      parent = rec.hash;
      h = x;
    }
    return h;
  }
}
