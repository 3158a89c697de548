/**
 * `recover store`: rebuilds a writer line in an empty or wiped object store from one or more
 * archivers (each read as an `ObjectStore`, e.g. `HttpStore` on its recovery API). Every object
 * is verified before it is written (the initial state against the descriptor's sha256, bundles
 * against their head records, segments whole, with their blocks' links, snapshot chunks and block
 * against the manifest, the canonical chain's parent links across all heights); an object that
 * fails on one archiver is taken from the next. Objects are written in an order that keeps the
 * target a valid store at every moment (a bundle before its head record, a segment's data before
 * its index, a snapshot's parts before its manifest, the descriptor last), so a crash leaves
 * nothing half-listed, and a run again skips what is already there and verifies.
 */
import { type ChainMeta, type HeadRecord, headsPrefix, metaKey, parseHeadKey } from "../format/index.ts";
import { type ChainStore, StoreError } from "../store/index.ts";
import { crashPoint } from "../util/crash.ts";
import { ChainkeepError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { listSegments, mapLimit, type SegmentRef, verifySegment } from "./segments.ts";
import { listSnapshots, readChunk, readManifest, readSnapshotBlock, type SnapshotRef } from "./snapshot.ts";

/** A source archiver of one writer line. */
export interface RecoverySource {
  /** A name for reports (its URL). */
  name: string;
  chain: ChainStore;
}

/** An object refused on one source. */
export interface Refusal {
  key: string;
  source: string;
  reason: string;
  /** Whether another source had it right. */
  recovered: boolean;
}

/** What a recovery did. */
export interface RecoveryReport {
  chainId: number;
  prefix: string;
  objects: number;
  bytes: number;
  /** Objects already in the target and verified (a resumed run). */
  skipped: number;
  heights: { from: number; to: number };
  segments: number;
  snapshots: number;
  refused: Refusal[];
  ms: number;
}

/** Progress of a recovery, for bars or log lines. */
export interface RecoveryProgress {
  objects: number;
  bytes: number;
  done: number;
  total: number;
}

/**
 * Recovers one writer line into `target` from `sources` (tried in order for each object). Fails
 * with STORE_NOT_FOUND when an object no source holds right is needed.
 */
export async function recoverLine(
  target: ChainStore,
  sources: RecoverySource[],
  deps: { logger: Logger; onProgress?: (p: RecoveryProgress) => void },
): Promise<RecoveryReport> {
  const started = Date.now();
  const report: RecoveryReport = {
    chainId: target.chainId,
    prefix: target.prefix,
    objects: 0,
    bytes: 0,
    skipped: 0,
    heights: { from: 0, to: -1 },
    segments: 0,
    snapshots: 0,
    refused: [],
    ms: 0,
  };
  const { logger } = deps;
  /** Tries each source for an object: `read` fetches and verifies it there. */
  const fromAny = async <T>(key: string, read: (s: RecoverySource) => Promise<T | undefined>): Promise<T> => {
    const failures: Refusal[] = [];
    for (const s of sources) {
      try {
        const v = await read(s);
        if (v !== undefined) {
          for (const f of failures) report.refused.push({ ...f, recovered: true });
          if (failures.length)
            logger.warn(
              { key, from: s.name, refusedBy: failures.map((f) => f.source) },
              "object taken from another archiver",
            );
          return v;
        }
      } catch (err) {
        if (!(err instanceof ChainkeepError)) throw err;
        if (err.code === "STORE_NOT_FOUND") continue; // not on this one
        failures.push({ key, source: s.name, reason: errorMessage(err), recovered: false });
        logger.warn({ key, source: s.name, err: errorMessage(err) }, "object refused");
      }
    }
    report.refused.push(...failures);
    throw new StoreError("STORE_NOT_FOUND", `no archiver holds ${key} intact`, {
      key,
      refused: failures.length,
    });
  };
  const put = async (key: string, data: Uint8Array) => {
    await target.store.put(key, data);
    present.add(key);
    report.objects++;
    report.bytes += data.length;
    crashPoint("recover-put");
  };
  // What the target already holds (a resumed run), listed once.
  const present = new Set(await target.store.list(target.root));
  const exists = async (key: string) => present.has(key);
  const readRaw = (s: RecoverySource, key: string) => s.chain.store.get(key);

  // The descriptor (written last) and the initial state.
  const meta = await fromAny<ChainMeta>(metaKey(target.root), async (s) => {
    const m = await s.chain.readMeta();
    if (m && m.chainId !== target.chainId)
      throw new StoreError("STORE_IO", `descriptor of chain ${m.chainId}`);
    return m;
  });
  const metaBytes = await fromAny(metaKey(target.root), (s) => readRaw(s, metaKey(target.root)));
  if (meta.initialState) {
    const { key, sha256 } = meta.initialState;
    if (!(await exists(key))) {
      const data = await fromAny(key, async (s) => {
        await s.chain.readInitialState(key, sha256);
        return readRaw(s, key);
      });
      await put(key, data);
    } else report.skipped++;
  }

  // What the archivers hold: head records (all of them) and snapshots, listed first for the progress.
  const headKeys = new Set<string>();
  for (const s of sources)
    for (const k of await s.chain.store.list(headsPrefix(s.chain.root)).catch(() => [])) headKeys.add(k);
  const byHeight = new Map<number, string[]>();
  for (const k of [...headKeys].sort()) {
    const p = parseHeadKey(target.root, k);
    if (!p) continue;
    byHeight.set(p.height, [...(byHeight.get(p.height) ?? []), k]);
  }
  const heights = [...byHeight.keys()].sort((a, b) => a - b);
  const snaps = new Map<number, SnapshotRef>();
  for (const s of sources)
    for (const r of await listSnapshots(s.chain).catch(() => [])) snaps.set(r.height, r);
  // Segments first, whole, each verified; then head records (and the bundles of heights no segment
  // holds), then snapshots.
  const segs = new Map<string, SegmentRef>();
  for (const s of sources)
    for (const ref of await listSegments(s.chain).catch(() => [])) segs.set(ref.indexKey, ref);
  const segments = [...segs.values()].sort((a, b) => a.from - b.from);
  const covered = new Map<number, HeadRecord>();
  let done = 0;
  const total = segments.length + heights.length + snaps.size;
  const progress = () =>
    deps.onProgress?.({ objects: report.objects, bytes: report.bytes, done: ++done, total });
  for (const ref of segments) {
    if (await exists(ref.indexKey)) {
      const idx = await verifySegment(target, ref).catch(() => undefined);
      if (idx) {
        for (const e of idx.blocks) covered.set(e.record.height, e.record);
        report.skipped++;
        report.segments++;
        progress();
        continue;
      }
    }
    const { idx, data, index } = await fromAny(ref.dataKey, async (s) => {
      const idx = await verifySegment(s.chain, ref);
      const [data, index] = await Promise.all([readRaw(s, ref.dataKey), readRaw(s, ref.indexKey)]);
      return data && index ? { idx, data, index } : undefined;
    });
    await put(ref.dataKey, data);
    await put(ref.indexKey, index);
    for (const e of idx.blocks) covered.set(e.record.height, e.record);
    report.segments++;
    progress();
  }

  // Heights 16 at a time; within one, a bundle before its head record.
  const canon = new Map<number, HeadRecord>();
  await mapLimit(heights, 16, async (h) => {
    const keys = byHeight.get(h) as string[];
    for (const key of keys) {
      const ref = {
        key,
        ...(parseHeadKey(target.root, key) as NonNullable<ReturnType<typeof parseHeadKey>>),
      };
      const rec = await fromAny(key, (s) => s.chain.readHead(ref));
      canon.set(h, rec); // keys in writeTs order: the last is canonical
      const inSegment = covered.get(h);
      if (inSegment && inSegment.hash === rec.hash) {
        // The segment holds this block: its record must be the head record.
        if (inSegment.sha256 !== rec.sha256)
          throw new StoreError("STORE_IO", `head record ${key} disagrees with its segment`);
      } else if (!(await exists(rec.bundleKey))) {
        const data = await fromAny(rec.bundleKey, async (s) => {
          const bytes = await readRaw(s, rec.bundleKey);
          if (!bytes) return undefined;
          await s.chain.verifyBundle(rec, bytes);
          return bytes;
        }).catch((err) => {
          // An old branch's bundle may be gone everywhere: only the canonical chain's must be there.
          if (key === keys[keys.length - 1]) throw err;
          return undefined;
        });
        if (data) await put(rec.bundleKey, data);
      }
      if (await exists(key)) report.skipped++;
      else await put(key, Buffer.from(JSON.stringify(rec)));
    }
    progress();
  });
  if (heights.length)
    report.heights = { from: heights[0] as number, to: heights[heights.length - 1] as number };
  // Parent links of the canonical chain from the first height to the writer's tip.
  checkLinks(canon, meta);

  // Snapshots: parts verified, then the manifest.
  for (const ref of [...snaps.values()].sort((a, b) => a.height - b.height)) {
    if (await exists(ref.manifestKey)) {
      report.skipped++;
      report.snapshots++;
      progress();
      continue;
    }
    const m = await fromAny(ref.manifestKey, async (s) => {
      const m = await readManifest(s.chain, ref);
      await readSnapshotBlock(s.chain, m);
      return m;
    });
    for (const c of m.chunks) {
      if (await exists(c.key)) {
        const ok = await readChunk(target, c).then(
          () => true,
          () => false,
        );
        if (ok) {
          report.skipped++;
          continue;
        }
      }
      await put(
        c.key,
        await fromAny(c.key, async (s) => {
          await readChunk(s.chain, c);
          return readRaw(s, c.key);
        }),
      );
    }
    await put(
      m.block.key,
      await fromAny(m.block.key, async (s) => {
        await readSnapshotBlock(s.chain, m);
        return readRaw(s, m.block.key);
      }),
    );
    await put(ref.manifestKey, await fromAny(ref.manifestKey, (s) => readRaw(s, ref.manifestKey)));
    report.snapshots++;
    progress();
  }
  // The descriptor last: a store without it is not yet a chain.
  await put(metaKey(target.root), metaBytes);
  report.ms = Date.now() - started;
  return report;
}

/**
 * The canonical records (the newest per height) link from the descriptor's first height to the
 * writer's tip: the highest height, or the newest record by write time within the reorg window
 * below it (records of an old branch above a shorter tip stay, see `ChainStore.writerTip`).
 */
function checkLinks(canon: Map<number, HeadRecord>, meta: ChainMeta): void {
  const top = Math.max(-1, ...canon.keys());
  if (top < meta.fromBlock) return;
  let tip = top;
  let newest = -1;
  for (let h = Math.max(meta.fromBlock, top - meta.reorgMax); h <= top; h++) {
    const r = canon.get(h);
    if (r && r.writeTs > newest) {
      newest = r.writeTs;
      tip = h;
    }
  }
  for (let h = meta.fromBlock; h <= tip; h++) {
    const rec = canon.get(h);
    if (!rec)
      throw new StoreError("STORE_NOT_FOUND", `recovered chain has no head record at ${h}`, { height: h });
    const below = canon.get(h - 1);
    if (h > meta.fromBlock && rec.parentHash !== below?.hash) {
      throw new StoreError("STORE_IO", `recovered chain does not link at ${h}`, { height: h });
    }
  }
}
