import { keccak256 } from "viem";
import {
  ARCHIVE_VERSION,
  type Bundle,
  BundleError,
  decodeJsonGz,
  EMPTY_CODE_HASH,
  encodeJsonGz,
  type HeadRecord,
  parseSnapshotManifestKey,
  type SnapshotAccount,
  type SnapshotChunk,
  type SnapshotChunkRef,
  type SnapshotManifest,
  type StateDump,
  sha256Hex,
  snapshotDir,
  snapshotManifestKey,
  snapshotsPrefix,
  ZERO_WORD,
} from "../format/index.ts";
import type { ChainStore } from "../store/index.ts";
import { StoreError } from "../store/index.ts";
import { ChainkeepError, CommonError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { type PartialOptions, pick, withDefaults } from "../util/options.ts";
import { readBlocks } from "./blocks.ts";
import { readArchiveDoc } from "./docs.ts";
import { snapshotOptions, verifyOptions } from "./options.ts";
import { mapLimit } from "./segments.ts";

/** A snapshot found in the store. */
export interface SnapshotRef {
  height: number;
  manifestKey: string;
}

/** The snapshots of a chain, oldest first. */
export async function listSnapshots(chain: ChainStore): Promise<SnapshotRef[]> {
  const refs = await chain.listParsed(snapshotsPrefix(chain.root), (key) => {
    const height = parseSnapshotManifestKey(chain.root, key);
    return height === undefined ? undefined : { height, manifestKey: key };
  });
  return refs.sort((a, b) => a.height - b.height);
}

/** Reads and checks a snapshot's manifest. */
export async function readManifest(chain: ChainStore, ref: SnapshotRef): Promise<SnapshotManifest> {
  const { height } = ref;
  // The block it was taken at is the one its key names, and it lists its chunks.
  return readArchiveDoc<SnapshotManifest>(
    chain,
    ref.manifestKey,
    "snapshot manifest",
    { height },
    (m) => Array.isArray(m.chunks) && m.record?.height === height && m.record.hash === m.blockHash,
  );
}

/** Reads one chunk and checks its size, sha256 and contents against the manifest. */
export async function readChunk(chain: ChainStore, ref: SnapshotChunkRef): Promise<SnapshotChunk> {
  const data = await chain.store.get(ref.key);
  if (!data) throw new StoreError("STORE_NOT_FOUND", `snapshot chunk ${ref.key} missing`, { key: ref.key });
  if (data.length !== ref.size || sha256Hex(data) !== ref.sha256) {
    throw new BundleError("BUNDLE_CHECKSUM", `snapshot chunk ${ref.key} checksum mismatch`, {
      key: ref.key,
    });
  }
  const c = await decodeJsonGz<SnapshotChunk>(data, ref.key);
  const slots = c.accounts.reduce((n, a) => n + a[5].length, 0);
  if (
    c.version !== ARCHIVE_VERSION ||
    c.accounts.length !== ref.accounts ||
    slots !== ref.slots ||
    c.accounts[0]?.[0] !== ref.first ||
    c.accounts[c.accounts.length - 1]?.[0] !== ref.last
  ) {
    throw new BundleError("BUNDLE_FORMAT", `snapshot chunk ${ref.key} disagrees with the manifest`, {
      key: ref.key,
    });
  }
  return c;
}

/** Reads the copy of the snapshot block's bundle and verifies it against the head record. */
export async function readSnapshotBlock(chain: ChainStore, m: SnapshotManifest): Promise<Bundle> {
  const data = await chain.store.get(m.block.key);
  if (!data) throw new StoreError("STORE_NOT_FOUND", `snapshot block ${m.block.key} missing`);
  return chain.verifyBundle(m.record, data);
}

/** The full state as a mutable image: accounts, storage (non-zero slots) and codes, lower-case. */
export class StateImage {
  readonly accounts = new Map<string, { b: string; n: string; c: string }>();
  readonly storage = new Map<string, Map<string, string>>();
  readonly codes = new Map<string, string>();

  /** The state of an initial-state dump. */
  static fromDump(dump: StateDump): StateImage {
    const img = new StateImage();
    for (const [address, a] of Object.entries(dump.accounts)) {
      const addr = address.toLowerCase();
      const ch = a.code === "0x" ? EMPTY_CODE_HASH : keccak256(a.code as `0x${string}`);
      if (a.code !== "0x") img.codes.set(ch, a.code);
      const empty = BigInt(a.balance) === 0n && BigInt(a.nonce) === 0n && a.code === "0x";
      if (!empty) img.accounts.set(addr, { b: a.balance, n: a.nonce, c: ch });
      for (const [slot, v] of Object.entries(a.storage)) img.setSlot(addr, slot, v);
    }
    return img;
  }

  /** Adds a chunk's accounts. */
  addChunk(c: SnapshotChunk): void {
    for (const [addr, b, n, ch, code, slots] of c.accounts) {
      if (b !== "") this.accounts.set(addr, { b, n, c: ch });
      if (code) this.codes.set(ch, code);
      for (const [s, v] of slots) this.setSlot(addr, s, v);
    }
  }

  setSlot(addr: string, slot: string, v: string): void {
    let m = this.storage.get(addr);
    if (BigInt(v) === 0n) {
      m?.delete(slot);
      return;
    }
    if (!m) {
      m = new Map();
      this.storage.set(addr, m);
    }
    m.set(slot, v);
  }

  /** Applies a block's post-values. */
  apply(bundle: Bundle): void {
    for (const [address, d] of Object.entries(bundle.diff.accounts)) {
      const addr = address.toLowerCase();
      if (d.post === null) this.accounts.delete(addr);
      else this.accounts.set(addr, { b: d.post.balance, n: d.post.nonce, c: d.post.codeHash });
    }
    for (const [address, slots] of Object.entries(bundle.diff.storage)) {
      const addr = address.toLowerCase();
      for (const [slot, [, post]] of Object.entries(slots)) this.setSlot(addr, slot, post);
    }
    for (const [ch, code] of Object.entries(bundle.diff.codes)) this.codes.set(ch.toLowerCase(), code);
  }

  /**
   * The image as snapshot accounts in address order. An address with storage but no account
   * (destroyed, or never created) is kept with an empty balance marking "no account".
   */
  entries(): SnapshotAccount[] {
    const addrs = new Set([...this.accounts.keys(), ...this.storage.keys()]);
    const out: SnapshotAccount[] = [];
    for (const addr of [...addrs].sort()) {
      const a = this.accounts.get(addr);
      const slots = [...(this.storage.get(addr) ?? new Map<string, string>())].sort((x, y) =>
        x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0,
      );
      if (!a && slots.length === 0) continue;
      const code = a && a.c !== EMPTY_CODE_HASH ? (this.codes.get(a.c) ?? null) : null;
      out.push([addr, a?.b ?? "", a?.n ?? "", a?.c ?? "", code, slots]);
    }
    return out;
  }
}

/**
 * Writes the full state at a finalized height: starts from the newest snapshot below it (or the
 * chain's initial state), applies the post-values of every block up to the height (from segments
 * where packed, per-block bundles elsewhere), writes the chunks, a copy of the block's bundle,
 * then the manifest (which commits the snapshot).
 */
export async function createSnapshot(
  chain: ChainStore,
  given: PartialOptions<typeof snapshotOptions>,
  deps: { logger: Logger },
): Promise<SnapshotManifest> {
  const opts = withDefaults(snapshotOptions, given);
  const meta = await chain.readMeta();
  if (!meta) throw new StoreError("STORE_NOT_FOUND", "no chain in the store");
  const tip = await chain.lastHeight(meta.fromBlock);
  if (tip === undefined) throw new StoreError("STORE_NOT_FOUND", "no block committed yet");
  const height = opts.height ?? tip - meta.reorgMax;
  if (height < meta.fromBlock || height > tip - meta.reorgMax) {
    throw new CommonError("CONFIG_INVALID", `height ${height} is not finalized (tip ${tip})`, {
      height,
      tip,
    });
  }
  const existing = (await listSnapshots(chain)).filter((s) => s.height <= height);
  let img: StateImage;
  let base: number | null = null;
  let from: number;
  const prev = existing[existing.length - 1];
  if (prev?.height === height) return readManifest(chain, prev);
  if (prev) {
    const m = await readManifest(chain, prev);
    img = new StateImage();
    for (const c of await mapLimit(m.chunks, 4, (ref) => readChunk(chain, ref))) img.addChunk(c);
    base = prev.height;
    from = prev.height + 1;
  } else {
    if (!meta.initialState) {
      throw new CommonError(
        "CONFIG_INVALID",
        "the chain has no initial state: a snapshot cannot be complete",
      );
    }
    img = StateImage.fromDump(await chain.readInitialState(meta.initialState.key, meta.initialState.sha256));
    from = meta.fromBlock + 1;
  }
  let record: HeadRecord | undefined;
  let blockBytes: Uint8Array | undefined;
  const started = Date.now();
  for await (const batch of readBlocks(chain, from, height)) {
    for (const b of batch) img.apply(b.bundle);
    const last = batch[batch.length - 1];
    if (last) deps.logger.debug({ height: last.record.height, target: height }, "snapshot: blocks applied");
  }
  // The block at `height`, from its bundle or its segment.
  for await (const batch of readBlocks(chain, height, height)) {
    record = batch[0]?.record;
    blockBytes = batch[0]?.bytes;
  }
  if (!record || !blockBytes) throw new StoreError("STORE_NOT_FOUND", `no block at ${height}`);
  const dir = snapshotDir(chain.root, height);
  const entries = img.entries();
  const per = opts.chunkEntries;
  const groups: SnapshotAccount[][] = [];
  let cur: SnapshotAccount[] = [];
  let n = 0;
  for (const e of entries) {
    cur.push(e);
    n += 1 + e[5].length;
    if (n >= per) {
      groups.push(cur);
      cur = [];
      n = 0;
    }
  }
  if (cur.length) groups.push(cur);
  const chunks = await mapLimit(groups, 2, async (accounts, i) => {
    const data = await encodeJsonGz({ version: ARCHIVE_VERSION, accounts } satisfies SnapshotChunk);
    const key = `${dir}chunk-${String(i).padStart(6, "0")}.json.gz`;
    await chain.store.put(key, data);
    return {
      key,
      size: data.length,
      sha256: sha256Hex(data),
      accounts: accounts.length,
      slots: accounts.reduce((s, a) => s + a[5].length, 0),
      first: accounts[0]?.[0] as string,
      last: accounts[accounts.length - 1]?.[0] as string,
    } satisfies SnapshotChunkRef;
  });
  const blockKey = `${dir}block.json.gz`;
  await chain.store.put(blockKey, blockBytes);
  const bundle = await chain.verifyBundle(record, blockBytes);
  const manifest: SnapshotManifest = {
    version: ARCHIVE_VERSION,
    chainId: chain.chainId,
    height,
    blockHash: record.hash,
    stateRoot: String(bundle.block.stateRoot ?? ""),
    createdTs: Date.now(),
    meta,
    record,
    block: { key: blockKey, size: blockBytes.length, sha256: sha256Hex(blockBytes) },
    chunks,
    totals: {
      accounts: entries.filter((e) => e[1] !== "").length,
      slots: chunks.reduce((s, c) => s + c.slots, 0),
      codes: entries.filter((e) => e[4] !== null).length,
      bytes: chunks.reduce((s, c) => s + c.size, 0) + blockBytes.length,
    },
    base,
  };
  await chain.store.put(snapshotManifestKey(chain.root, height), Buffer.from(JSON.stringify(manifest)));
  deps.logger.info(
    { height, chunks: chunks.length, ...manifest.totals, ms: Date.now() - started },
    "snapshot written",
  );
  return manifest;
}

/** What {@link verifySnapshot} found. */
export interface SnapshotReport {
  height: number;
  chunks: number;
  accounts: number;
  slots: number;
  /** Keys whose post-value in the last blocks before the height was compared with the snapshot. */
  crossChecked: number;
}

/**
 * Verifies a snapshot: every chunk's size, sha256 and contents, the block copy against its head
 * record, the totals, and a cross-check of the snapshot's values with the post-values of the last
 * `checkBlocks` blocks' diffs (see `verifyOptions`): each key they wrote must hold its last written value.
 */
export async function verifySnapshot(
  chain: ChainStore,
  ref: SnapshotRef,
  given: { checkBlocks?: number } = {},
): Promise<SnapshotReport> {
  const opts = withDefaults(pick(verifyOptions, ["checkBlocks"]), given);
  const m = await readManifest(chain, ref);
  await readSnapshotBlock(chain, m);
  const img = new StateImage();
  let prevLast = "";
  for (const c of await mapLimit(m.chunks, 4, (r) => readChunk(chain, r))) {
    const first = c.accounts[0]?.[0] ?? "";
    if (first <= prevLast)
      throw new BundleError("BUNDLE_FORMAT", "snapshot chunks overlap or are out of order");
    prevLast = c.accounts[c.accounts.length - 1]?.[0] ?? prevLast;
    img.addChunk(c);
  }
  const slots = [...img.storage.values()].reduce((n, s) => n + s.size, 0);
  if (img.accounts.size !== m.totals.accounts || slots !== m.totals.slots) {
    throw new BundleError("BUNDLE_FORMAT", `snapshot ${m.height} totals disagree with its chunks`);
  }
  // Post-values of the last blocks up to the height: the latest one per key must be the snapshot's.
  const k = opts.checkBlocks;
  const from = Math.max(m.meta.fromBlock + 1, m.height - k + 1);
  const accountsSeen = new Map<string, { b: string; n: string; c: string } | null>();
  const slotsSeen = new Map<string, string>();
  try {
    for await (const batch of readBlocks(chain, from, m.height)) {
      for (const b of batch) {
        for (const [a, d] of Object.entries(b.bundle.diff.accounts)) {
          accountsSeen.set(
            a.toLowerCase(),
            d.post ? { b: d.post.balance, n: d.post.nonce, c: d.post.codeHash } : null,
          );
        }
        for (const [a, s] of Object.entries(b.bundle.diff.storage))
          for (const [slot, [, post]] of Object.entries(s)) slotsSeen.set(`${a.toLowerCase()} ${slot}`, post);
      }
    }
  } catch (err) {
    // Blocks pruned from the store and not in a segment: check what could be read.
    if (!(err instanceof ChainkeepError && err.code === "STORE_NOT_FOUND")) throw err;
  }
  for (const [a, post] of accountsSeen) {
    const held = img.accounts.get(a) ?? null;
    const same =
      post === null
        ? held === null
        : held !== null && held.b === post.b && held.n === post.n && held.c === post.c;
    if (!same) {
      throw new BundleError(
        "BUNDLE_PRE_MISMATCH",
        `snapshot ${m.height}: account ${a} disagrees with the diffs`,
        {
          address: a,
        },
      );
    }
  }
  for (const [key, post] of slotsSeen) {
    const [a, slot] = key.split(" ") as [string, string];
    const held = img.storage.get(a)?.get(slot) ?? ZERO_WORD;
    if (BigInt(held) !== BigInt(post)) {
      throw new BundleError(
        "BUNDLE_PRE_MISMATCH",
        `snapshot ${m.height}: ${a}[${slot}] disagrees with the diffs`,
        {
          address: a,
          slot,
        },
      );
    }
  }
  return {
    height: m.height,
    chunks: m.chunks.length,
    accounts: img.accounts.size,
    slots,
    crossChecked: accountsSeen.size + slotsSeen.size,
  };
}

/** Deletes every snapshot but the newest `keep` (manifest first, so none is left half-deleted and listed). */
export async function retireSnapshots(chain: ChainStore, keep: number): Promise<number[]> {
  const all = await listSnapshots(chain);
  const old = all.slice(0, Math.max(0, all.length - Math.max(1, keep)));
  for (const s of old) {
    await chain.store.delete(s.manifestKey);
    const dir = snapshotDir(chain.root, s.height);
    for (const key of await chain.store.list(dir)) await chain.store.delete(key);
  }
  return old.map((s) => s.height);
}
