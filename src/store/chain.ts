import {
  type Bundle,
  BundleError,
  bundleKey,
  type ChainMeta,
  chainRoot,
  computeBlockHash,
  decodeJsonGz,
  encodeJsonGz,
  FORMAT_VERSION,
  type HeadRecord,
  headKey,
  headsPrefix,
  headsStartAfter,
  initialStateKey,
  metaKey,
  padHeight,
  parseHeadKey,
  type StateDump,
  sha256Hex,
  verifyBodyRoots,
} from "../format/index.ts";
import { CommonError } from "../util/errors.ts";
import { toQuantity } from "../util/hex.ts";
import { StoreError } from "./errors.ts";
import type { ObjectStore } from "./types.ts";

/** A head key parsed from a listing. */
export interface HeadRef {
  key: string;
  height: number;
  writeTs: number;
  hash: string;
}

/**
 * One writer line of one chain in the object store (`{prefix}/{chainId}/`): reads and writes
 * bundles, head records, the chain descriptor and the initial state, verifying on read.
 */
export class ChainStore {
  readonly root: string;

  constructor(
    readonly store: ObjectStore,
    readonly prefix: string,
    readonly chainId: number,
  ) {
    this.root = chainRoot(prefix, chainId);
  }

  /**
   * The JSON document at `key` (`what` names it in errors): undefined when there is none,
   * BUNDLE_FORMAT when it is not JSON. Callers check its fields.
   */
  async findJson<T>(key: string, what: string): Promise<T | undefined> {
    const data = await this.store.get(key);
    if (!data) return undefined;
    try {
      return JSON.parse(Buffer.from(data).toString("utf8")) as T;
    } catch (err) {
      throw new BundleError("BUNDLE_FORMAT", `${what} ${key} is not JSON`, { key }, { cause: err });
    }
  }

  /**
   * Like {@link findJson}, but STORE_NOT_FOUND when there is no document at `key`, and
   * BUNDLE_FORMAT when `valid` (the caller's checks of its fields) says no.
   */
  async readJson<T>(key: string, what: string, valid: (doc: T) => boolean = () => true): Promise<T> {
    const doc = await this.findJson<T>(key, what);
    if (doc === undefined) throw new StoreError("STORE_NOT_FOUND", `${what} ${key} missing`, { key });
    if (!valid(doc)) throw new BundleError("BUNDLE_FORMAT", `${what} ${key} is inconsistent`, { key });
    return doc;
  }

  /** The keys under `prefix` that `parse` recognises, parsed, in key order. */
  async listParsed<T>(prefix: string, parse: (key: string) => T | undefined): Promise<T[]> {
    const out: T[] = [];
    for (const key of await this.store.list(prefix)) {
      const p = parse(key);
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  async readMeta(): Promise<ChainMeta | undefined> {
    return this.findJson<ChainMeta>(metaKey(this.root), "chain descriptor");
  }

  async writeMeta(meta: ChainMeta): Promise<void> {
    await this.store.put(metaKey(this.root), Buffer.from(JSON.stringify(meta, null, 2)));
  }

  async writeInitialState(dump: StateDump): Promise<{ key: string; sha256: string }> {
    const key = initialStateKey(this.root, dump.height);
    const data = await encodeJsonGz(dump);
    await this.store.put(key, data);
    return { key, sha256: sha256Hex(data) };
  }

  async readInitialState(key: string, sha256: string): Promise<StateDump> {
    const data = await this.store.get(key);
    if (!data) throw new StoreError("STORE_NOT_FOUND", `initial state ${key} missing`, { key });
    if (sha256Hex(data) !== sha256) {
      throw new BundleError("BUNDLE_CHECKSUM", `initial state ${key} checksum mismatch`, { key });
    }
    return decodeJsonGz<StateDump>(data, key);
  }

  /** Writes the bundle, then the head record (its existence commits the block). */
  async commit(
    bundle: Bundle,
    writeTs: number,
    extra: { safe: number; finalized: number },
  ): Promise<HeadRecord> {
    const height = Number(bundle.block.number);
    const hash = bundle.block.hash;
    const bKey = bundleKey(this.root, height, writeTs, hash);
    const data = await encodeJsonGz(bundle);
    await this.store.put(bKey, data);
    const record: HeadRecord = {
      version: FORMAT_VERSION,
      chainId: this.chainId,
      height,
      hash,
      parentHash: bundle.block.parentHash,
      writeTs,
      bundleKey: bKey,
      size: data.length,
      sha256: sha256Hex(data),
      safe: extra.safe,
      finalized: extra.finalized,
    };
    await this.store.put(headKey(this.root, height, writeTs, hash), Buffer.from(JSON.stringify(record)));
    return record;
  }

  /**
   * Writes `rec` again with a newer `writeTs` (same block, same bundle): the writer marks its tip
   * this way when the upstream went back to a shorter chain, so that readers, for which the
   * newest head record is the writer's tip, stop at this block (see ARCHITECTURE.md, "Reorgs").
   */
  async remark(rec: HeadRecord, writeTs: number): Promise<HeadRecord> {
    const record: HeadRecord = { ...rec, writeTs };
    await this.store.put(
      headKey(this.root, rec.height, writeTs, rec.hash),
      Buffer.from(JSON.stringify(record)),
    );
    return record;
  }

  /** Head keys from `fromHeight` on, in (height, writeTs) order, at most `limit`. */
  async listHeads(fromHeight: number, limit = 1000): Promise<HeadRef[]> {
    const keys = await this.store.list(headsPrefix(this.root), {
      startAfter: headsStartAfter(this.root, fromHeight),
      limit,
    });
    const out: HeadRef[] = [];
    for (const key of keys) {
      const p = parseHeadKey(this.root, key);
      if (p) out.push({ key, ...p });
    }
    return out;
  }

  /** True when at least one head record exists at `height`. */
  async hasHead(height: number): Promise<boolean> {
    const keys = await this.store.list(`${headsPrefix(this.root)}${padHeight(height)}/`, { limit: 1 });
    return keys.length > 0;
  }

  /** The canonical (latest writeTs) head ref at `height`. */
  async canonicalHead(height: number): Promise<HeadRef | undefined> {
    const keys = await this.store.list(`${headsPrefix(this.root)}${padHeight(height)}/`);
    const refs = keys.map((k) => parseHeadKey(this.root, k)).filter((p) => p !== undefined);
    const last = refs[refs.length - 1];
    const key = keys[keys.length - 1];
    return last && key ? { key, ...last } : undefined;
  }

  /**
   * The highest height with a head record, searching up from `fromBlock` (galloping, then binary
   * search over `hasHead`); undefined when there is none at `fromBlock`.
   */
  async lastHeight(fromBlock: number): Promise<number | undefined> {
    if (!(await this.hasHead(fromBlock))) return undefined;
    let lo = fromBlock;
    let step = 1;
    while (await this.hasHead(lo + step)) {
      lo += step;
      step *= 2;
    }
    let hi = lo + step; // no head at hi
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await this.hasHead(mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The writer's tip at or above `from`: the highest height with a head record, then the newest
   * record by write time within `window` blocks below it, since records of an old branch stay
   * above the tip after a reorg to a shorter chain (the writer marks its new tip with a newer
   * record). Undefined when there is no record at `from`.
   */
  async writerTip(from: number, window: number): Promise<number | undefined> {
    const top = await this.lastHeight(from);
    if (top === undefined) return undefined;
    let newest: HeadRef | undefined;
    for (const r of await this.listHeads(Math.max(0, top - window), 4 * (window + 1))) {
      if (r.height <= top && (!newest || r.writeTs > newest.writeTs)) newest = r;
    }
    return newest?.height ?? top;
  }

  async readHead(ref: HeadRef): Promise<HeadRecord> {
    // A record names the height, hash and write time of its key.
    return this.readJson<HeadRecord>(
      ref.key,
      "head record",
      (rec) => rec.height === ref.height && rec.hash === ref.hash && rec.writeTs === ref.writeTs,
    );
  }

  /**
   * Reads and verifies the bundle a head record points to: size and sha256, format version,
   * chain id, height, and the block hash recomputed from the stored header.
   */
  async readBundle(rec: HeadRecord): Promise<Bundle> {
    const data = await this.store.get(rec.bundleKey);
    if (!data)
      throw new StoreError("STORE_NOT_FOUND", `bundle ${rec.bundleKey} missing`, { key: rec.bundleKey });
    return this.verifyBundle(rec, data);
  }

  /**
   * Verifies bundle bytes against their head record (wherever they were read from: the bundle's
   * own key, a segment, a snapshot) and decodes them; the checks of `readBundle`.
   */
  async verifyBundle(rec: HeadRecord, data: Uint8Array): Promise<Bundle> {
    if (data.length !== rec.size || sha256Hex(data) !== rec.sha256) {
      throw new BundleError("BUNDLE_CHECKSUM", `bundle ${rec.bundleKey} checksum mismatch`, {
        key: rec.bundleKey,
        height: rec.height,
      });
    }
    const b = await decodeJsonGz<Bundle>(data, rec.bundleKey);
    if (
      b.version !== FORMAT_VERSION ||
      b.chainId !== this.chainId ||
      !b.block ||
      !Array.isArray(b.receipts)
    ) {
      throw new BundleError("BUNDLE_FORMAT", `bundle ${rec.bundleKey} has an unknown format`, {
        key: rec.bundleKey,
      });
    }
    const computed = computeBlockHash(b.block);
    if (computed !== rec.hash || b.block.hash !== rec.hash || Number(b.block.number) !== rec.height) {
      throw new BundleError(
        "BUNDLE_HASH_MISMATCH",
        `bundle ${rec.bundleKey} header does not hash to ${rec.hash}`,
        {
          key: rec.bundleKey,
          computed,
        },
      );
    }
    if (b.block.parentHash !== rec.parentHash || b.receipts.length !== b.block.transactions.length) {
      throw new BundleError("BUNDLE_FORMAT", `bundle ${rec.bundleKey} is inconsistent`, {
        key: rec.bundleKey,
      });
    }
    checkMembership(b, rec);
    verifyBodyRoots(b.block, b.receipts);
    return b;
  }
}

/**
 * Every transaction, receipt and log of the bundle names this block and its place in it: the
 * parts of the RPC objects that the header's roots do not commit to.
 */
function checkMembership(b: Bundle, rec: HeadRecord): void {
  let logIndex = 0;
  let prevCumulative = 0n;
  b.block.transactions.forEach((tx, i) => {
    const r = b.receipts[i];
    const index = toQuantity(i);
    let ok =
      r !== undefined &&
      tx.hash === r.transactionHash &&
      tx.blockHash === rec.hash &&
      r.blockHash === rec.hash &&
      tx.transactionIndex === index &&
      r.transactionIndex === index &&
      Number(tx.blockNumber) === rec.height &&
      Number(r.blockNumber) === rec.height &&
      tx.from === r.from;
    if (ok && r) {
      const cumulative = BigInt(r.cumulativeGasUsed as string);
      ok = BigInt(r.gasUsed as string) === cumulative - prevCumulative;
      prevCumulative = cumulative;
      for (const l of r.logs) {
        ok &&=
          Number(l.logIndex) === logIndex++ &&
          l.transactionHash === tx.hash &&
          l.transactionIndex === index &&
          l.blockHash === rec.hash &&
          Number(l.blockNumber) === rec.height &&
          l.removed === false;
      }
    }
    if (!ok) {
      throw new BundleError("BUNDLE_FORMAT", `bundle ${rec.bundleKey} tx ${i} does not belong to the block`, {
        key: rec.bundleKey,
        index: i,
      });
    }
  });
}

/**
 * The only chain id with a `meta.json` under `prefix/` in `store`; `CONFIG_INVALID` when there is
 * none yet or several (the caller must say which).
 */
export async function onlyChainId(store: ObjectStore, prefix: string): Promise<number> {
  const ids = new Set<number>();
  for (const k of await store.list(`${prefix}/`)) {
    const m = /^[^/]+\/(\d+)\/meta\.json$/.exec(k);
    if (m) ids.add(Number(m[1]));
  }
  if (ids.size === 1) return [...ids][0] as number;
  throw new CommonError(
    "CONFIG_INVALID",
    ids.size === 0
      ? `no chain under prefix ${prefix} yet; pass --chain-id`
      : `several chains under ${prefix}; pass --chain-id`,
    { chains: [...ids] },
  );
}
