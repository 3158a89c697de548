import { keccak256 } from "viem";
import {
  ARCHIVE_VERSION,
  anvilTrie,
  type Bundle,
  BundleError,
  type ChainMeta,
  decodeJsonGz,
  EMPTY_CODE_HASH,
  encodeJsonGz,
  keptEmptyAccounts,
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
  type VerifiedBlock,
} from "../format/index.ts";
import type { ChainStore } from "../store/index.ts";
import { StoreError } from "../store/index.ts";
import { ChainkeepError, CommonError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { type PartialOptions, pick, withDefaults } from "../util/options.ts";
import { readBlocks } from "./blocks.ts";
import { readArchiveDoc } from "./docs.ts";
import { snapshotOptions, verifyOptions } from "./options.ts";
import { StateRootBuilder } from "./state-root.ts";

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

/**
 * The full state as a mutable image: accounts, storage and codes, lower-case. Storage holds
 * non-zero slots; with `anvil` (an anvil chain, see `anvilTrie`) also the slots set back to zero,
 * and the empty accounts anvil keeps.
 */
export class StateImage {
  readonly accounts = new Map<string, { b: string; n: string; c: string }>();
  readonly storage = new Map<string, Map<string, string>>();
  readonly codes = new Map<string, string>();

  /** Accounts the applied blocks destroyed (an overlay's: see {@link StateImage.overlay}). */
  readonly deleted = new Set<string>();
  /** Contracts an anvil chain keeps empty after the applied blocks (an overlay's). */
  readonly keptEmpty = new Set<string>();

  constructor(
    private readonly anvil = false,
    private readonly isOverlay = false,
  ) {}

  /**
   * An image of the changes only: blocks applied to it record every value they write (zeros and
   * destroyed accounts included), for {@link mergeState} to lay over a full state.
   */
  static overlay(anvil: boolean): StateImage {
    return new StateImage(anvil, true);
  }

  /** The state of an initial-state dump. */
  static fromDump(dump: StateDump, anvil = false): StateImage {
    const img = new StateImage(anvil);
    for (const [address, a] of Object.entries(dump.accounts)) {
      const addr = address.toLowerCase();
      const ch = a.code === "0x" ? EMPTY_CODE_HASH : keccak256(a.code as `0x${string}`);
      if (a.code !== "0x") img.codes.set(ch, a.code);
      const empty = BigInt(a.balance) === 0n && BigInt(a.nonce) === 0n && a.code === "0x";
      if (!empty || anvil) img.accounts.set(addr, { b: a.balance, n: a.nonce, c: ch });
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
    if (!this.anvil && !this.isOverlay && BigInt(v) === 0n) {
      m?.delete(slot);
      return;
    }
    if (!m) {
      m = new Map();
      this.storage.set(addr, m);
    }
    m.set(slot, v);
  }

  /** Applies a block's post-values (and, on an anvil chain, the accounts it keeps empty). */
  apply(bundle: Bundle): void {
    if (this.anvil) {
      for (const a of keptEmptyAccounts(bundle)) {
        if (this.isOverlay) this.keptEmpty.add(a);
        else if (!this.accounts.has(a)) this.accounts.set(a, { b: "0x0", n: "0x0", c: EMPTY_CODE_HASH });
      }
    }
    for (const [address, d] of Object.entries(bundle.diff.accounts)) {
      const addr = address.toLowerCase();
      if (d.post === null) {
        this.accounts.delete(addr);
        this.deleted.add(addr);
      } else {
        this.accounts.set(addr, { b: d.post.balance, n: d.post.nonce, c: d.post.codeHash });
        this.deleted.delete(addr);
      }
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
 * A full state (entries in address order) with an overlay's changes laid over it, in address
 * order, streamed: the base is read once and only the overlay is held.
 */
async function* mergeState(
  base: Iterable<SnapshotAccount> | AsyncIterable<SnapshotAccount>,
  over: StateImage,
  anvil: boolean,
): AsyncGenerator<SnapshotAccount> {
  const touched = [
    ...new Set([...over.accounts.keys(), ...over.deleted, ...over.storage.keys(), ...over.keptEmpty]),
  ].sort();
  let i = 0;
  const merged = (addr: string, e: SnapshotAccount | undefined): SnapshotAccount | undefined => {
    const baseAcct = e && e[1] !== "" ? { b: e[1], n: e[2], c: e[3] } : undefined;
    let acct = over.accounts.get(addr) ?? (over.deleted.has(addr) ? undefined : baseAcct);
    if (!acct && over.keptEmpty.has(addr)) acct = { b: "0x0", n: "0x0", c: EMPTY_CODE_HASH };
    const slots = new Map<string, string>(e?.[5] ?? []);
    for (const [slot, v] of over.storage.get(addr) ?? []) slots.set(slot, v);
    const kept = [...slots].filter(([, v]) => anvil || BigInt(v) !== 0n);
    kept.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    if (!acct && kept.length === 0) return undefined;
    const code =
      acct && acct.c !== EMPTY_CODE_HASH
        ? (over.codes.get(acct.c) ?? (e && e[3] === acct.c ? e[4] : null))
        : null;
    return acct ? [addr, acct.b, acct.n, acct.c, code, kept] : [addr, "", "", "", null, kept];
  };
  for await (const e of base) {
    while (i < touched.length && (touched[i] as string) < e[0]) {
      const m = merged(touched[i++] as string, undefined);
      if (m) yield m;
    }
    if (i < touched.length && touched[i] === e[0]) {
      i++;
      const m = merged(e[0], e);
      if (m) yield m;
    } else yield e;
  }
  while (i < touched.length) {
    const m = merged(touched[i++] as string, undefined);
    if (m) yield m;
  }
}

/** The accounts of a snapshot's chunks, read one chunk at a time, in order. */
async function* snapshotEntries(chain: ChainStore, m: SnapshotManifest): AsyncGenerator<SnapshotAccount> {
  for (const ref of m.chunks) yield* (await readChunk(chain, ref)).accounts;
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
  const anvil = anvilTrie(meta);
  let baseState: Iterable<SnapshotAccount> | AsyncIterable<SnapshotAccount>;
  let base: number | null = null;
  let from: number;
  const prev = existing[existing.length - 1];
  if (prev?.height === height) return readManifest(chain, prev);
  if (prev) {
    // The previous snapshot, streamed chunk by chunk under the blocks' changes.
    baseState = snapshotEntries(chain, await readManifest(chain, prev));
    base = prev.height;
    from = prev.height + 1;
  } else {
    if (!meta.initialState) {
      throw new CommonError(
        "CONFIG_INVALID",
        "the chain has no initial state: a snapshot cannot be complete",
      );
    }
    // The initial state is one document (the upstream's dump), read whole.
    baseState = StateImage.fromDump(
      await chain.readInitialState(meta.initialState.key, meta.initialState.sha256),
      anvil,
    ).entries();
    from = meta.fromBlock + 1;
  }
  const started = Date.now();
  // Only what the blocks since the base wrote is held in memory.
  const over = StateImage.overlay(anvil);
  for await (const batch of readBlocks(chain, from, height)) {
    for (const b of batch) over.apply(b.bundle);
    const last = batch[batch.length - 1];
    if (last) deps.logger.debug({ height: last.record.height, target: height }, "snapshot: blocks applied");
  }
  const block = await blockAt(chain, height);
  const entries = mergeState(baseState, over, anvil);
  const manifest = await writeSnapshot(chain, { meta, block, entries, base }, given, deps);
  deps.logger.info({ height, ms: Date.now() - started }, "snapshot built from the store");
  return manifest;
}

/** The verified block at `height`, from its bundle or its segment. */
export async function blockAt(chain: ChainStore, height: number): Promise<VerifiedBlock> {
  for await (const batch of readBlocks(chain, height, height)) if (batch[0]) return batch[0];
  throw new StoreError("STORE_NOT_FOUND", `no block at ${height}`, { height });
}

/** What {@link writeSnapshot} writes: the state at `block`, and where it was built from. */
export interface SnapshotInput {
  meta: ChainMeta;
  /** The snapshot's block, verified. */
  block: VerifiedBlock;
  /** The full state after `block`, accounts in address order (streamed: never held whole). */
  entries: Iterable<SnapshotAccount> | AsyncIterable<SnapshotAccount>;
  /** The snapshot it was built from (its height), or null. */
  base: number | null;
}

/**
 * Writes a snapshot of `input.entries` under `snapshots/{height}/` as it streams them: chunks
 * (each also fed to a {@link StateRootBuilder}), each read back and checked; then, only when the
 * state root recomputed from the chunks' contents equals the block header's `stateRoot`, a copy
 * of the block's bundle and the manifest, read back too. The manifest commits the snapshot, so a
 * crash at any point leaves none listed that is not whole; a root that differs is refused
 * (BUNDLE_STATE_ROOT) and nothing is listed.
 */
export async function writeSnapshot(
  chain: ChainStore,
  input: SnapshotInput,
  given: PartialOptions<typeof snapshotOptions>,
  deps: { logger: Logger; tmpDir?: string },
): Promise<SnapshotManifest> {
  const opts = withDefaults(snapshotOptions, given);
  const { record, bytes: blockBytes, bundle } = input.block;
  const height = record.height;
  const headerRoot = String(bundle.block.stateRoot ?? "").toLowerCase();
  const dir = snapshotDir(chain.root, height);
  const started = Date.now();
  const roots = await StateRootBuilder.open(deps.tmpDir, { keepZeroSlots: anvilTrie(input.meta) });
  const chunks: SnapshotChunkRef[] = [];
  let accounts = 0;
  let codes = 0;
  const flush = async (group: SnapshotAccount[]) => {
    roots.add(group);
    const data = await encodeJsonGz({ version: ARCHIVE_VERSION, accounts: group } satisfies SnapshotChunk);
    const ref: SnapshotChunkRef = {
      key: `${dir}chunk-${String(chunks.length).padStart(6, "0")}.json.gz`,
      size: data.length,
      sha256: sha256Hex(data),
      accounts: group.length,
      slots: group.reduce((s, a) => s + a[5].length, 0),
      first: group[0]?.[0] as string,
      last: group[group.length - 1]?.[0] as string,
    };
    await chain.store.put(ref.key, data);
    await readChunk(chain, ref); // read back: what is listed is what was meant
    chunks.push(ref);
  };
  let stateRoot: string;
  try {
    let cur: SnapshotAccount[] = [];
    let n = 0;
    let prev = "";
    for await (const e of input.entries) {
      if (e[0] <= prev) throw new CommonError("INTERNAL", `snapshot entries out of address order at ${e[0]}`);
      prev = e[0];
      if (e[1] !== "") accounts++;
      if (e[4] !== null) codes++;
      cur.push(e);
      n += 1 + e[5].length;
      if (n >= opts.chunkEntries) {
        await flush(cur);
        cur = [];
        n = 0;
      }
    }
    if (cur.length) await flush(cur);
    stateRoot = roots.root();
  } finally {
    await roots.close();
  }
  if (stateRoot !== headerRoot) {
    throw new BundleError(
      "BUNDLE_STATE_ROOT",
      `snapshot ${height}: state root ${stateRoot} recomputed from its chunks differs from the header's ${headerRoot}`,
      { height, computed: stateRoot, header: headerRoot },
    );
  }
  const blockKey = `${dir}block.json.gz`;
  await chain.store.put(blockKey, blockBytes);
  const manifest: SnapshotManifest = {
    version: ARCHIVE_VERSION,
    chainId: chain.chainId,
    height,
    blockHash: record.hash,
    stateRoot,
    createdTs: Date.now(),
    meta: input.meta,
    record,
    block: { key: blockKey, size: blockBytes.length, sha256: sha256Hex(blockBytes) },
    chunks,
    totals: {
      accounts,
      slots: chunks.reduce((s, c) => s + c.slots, 0),
      codes,
      bytes: chunks.reduce((s, c) => s + c.size, 0) + blockBytes.length,
    },
    base: input.base,
  };
  const key = snapshotManifestKey(chain.root, height);
  await chain.store.put(key, Buffer.from(JSON.stringify(manifest)));
  const back = await readManifest(chain, { height, manifestKey: key });
  await readSnapshotBlock(chain, back);
  if (back.chunks.length !== chunks.length || back.stateRoot !== stateRoot) {
    throw new BundleError("BUNDLE_FORMAT", `snapshot ${height}: the manifest read back differs`, { key });
  }
  deps.logger.info(
    { height, chunks: chunks.length, ...manifest.totals, stateRoot, ms: Date.now() - started },
    "snapshot written, state root proven",
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
  /** The state root recomputed from the chunks (equal to the manifest's and the header's). */
  stateRoot: string;
}

/**
 * Verifies a snapshot, streaming its chunks (one in memory at a time): every chunk's size, sha256,
 * contents and address order, the block copy against its head record, the totals, the state root
 * recomputed from the chunks against the manifest's and the block header's (BUNDLE_STATE_ROOT),
 * and a cross-check of the snapshot's values with the post-values of the last `checkBlocks`
 * blocks' diffs (see `verifyOptions`): each key they wrote must hold its last written value.
 */
export async function verifySnapshot(
  chain: ChainStore,
  ref: SnapshotRef,
  given: { checkBlocks?: number } = {},
  deps: { tmpDir?: string } = {},
): Promise<SnapshotReport> {
  const opts = withDefaults(pick(verifyOptions, ["checkBlocks"]), given);
  const m = await readManifest(chain, ref);
  const block = await readSnapshotBlock(chain, m);
  // Post-values of the last blocks up to the height: the latest one per key must be the snapshot's.
  const k = opts.checkBlocks;
  const from = Math.max(m.meta.fromBlock + 1, m.height - k + 1);
  const accountsSeen = new Map<string, { b: string; n: string; c: string } | null>();
  const slotsSeen = new Map<string, Map<string, string>>();
  try {
    for await (const batch of readBlocks(chain, from, m.height)) {
      for (const b of batch) {
        for (const [a, d] of Object.entries(b.bundle.diff.accounts)) {
          accountsSeen.set(
            a.toLowerCase(),
            d.post ? { b: d.post.balance, n: d.post.nonce, c: d.post.codeHash } : null,
          );
        }
        for (const [a, st] of Object.entries(b.bundle.diff.storage)) {
          const addr = a.toLowerCase();
          const held = slotsSeen.get(addr) ?? new Map<string, string>();
          slotsSeen.set(addr, held);
          for (const [slot, [, post]] of Object.entries(st)) held.set(slot, post);
        }
      }
    }
  } catch (err) {
    // Blocks pruned from the store and not in a segment: check what could be read.
    if (!(err instanceof ChainkeepError && err.code === "STORE_NOT_FOUND")) throw err;
  }
  const crossChecked = accountsSeen.size + [...slotsSeen.values()].reduce((n, x) => n + x.size, 0);
  const roots = await StateRootBuilder.open(deps.tmpDir, { keepZeroSlots: anvilTrie(m.meta) });
  let accounts = 0;
  let slots = 0;
  let stateRoot: string;
  try {
    let prevLast = "";
    for (const r of m.chunks) {
      const c = await readChunk(chain, r);
      for (const e of c.accounts) {
        if (e[0] <= prevLast)
          throw new BundleError("BUNDLE_FORMAT", "snapshot chunks overlap or are out of order");
        prevLast = e[0];
        if (e[1] !== "") accounts++;
        slots += e[5].length;
        crossCheck(m.height, e, accountsSeen, slotsSeen);
      }
      roots.add(c.accounts);
    }
    stateRoot = roots.root();
  } finally {
    await roots.close();
  }
  // Keys written by the last blocks but absent from every chunk must not exist.
  for (const [a, post] of accountsSeen) {
    if (post !== null) {
      throw new BundleError(
        "BUNDLE_PRE_MISMATCH",
        `snapshot ${m.height}: account ${a} disagrees with the diffs`,
        {
          address: a,
        },
      );
    }
  }
  for (const [a, held] of slotsSeen) {
    for (const [slot, post] of held) {
      if (BigInt(post) !== 0n) {
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
  }
  if (accounts !== m.totals.accounts || slots !== m.totals.slots) {
    throw new BundleError("BUNDLE_FORMAT", `snapshot ${m.height} totals disagree with its chunks`);
  }
  const headerRoot = String(block.block.stateRoot ?? "").toLowerCase();
  if (stateRoot !== headerRoot || m.stateRoot.toLowerCase() !== headerRoot) {
    throw new BundleError(
      "BUNDLE_STATE_ROOT",
      `snapshot ${m.height}: state root ${stateRoot} recomputed from its chunks differs from the header's ${headerRoot}`,
      { height: m.height, computed: stateRoot, header: headerRoot, manifest: m.stateRoot },
    );
  }
  return { height: m.height, chunks: m.chunks.length, accounts, slots, crossChecked, stateRoot };
}

/** Checks one snapshot entry against the last blocks' post-values, and forgets the keys it checked. */
function crossCheck(
  height: number,
  [addr, b, n, c, , storage]: SnapshotAccount,
  accountsSeen: Map<string, { b: string; n: string; c: string } | null>,
  slotsSeen: Map<string, Map<string, string>>,
): void {
  if (accountsSeen.has(addr)) {
    const post = accountsSeen.get(addr) ?? null;
    const same = post === null ? b === "" : b === post.b && n === post.n && c === post.c;
    if (!same) {
      throw new BundleError(
        "BUNDLE_PRE_MISMATCH",
        `snapshot ${height}: account ${addr} disagrees with the diffs`,
        {
          address: addr,
        },
      );
    }
    accountsSeen.delete(addr);
  }
  const seen = slotsSeen.get(addr);
  if (!seen) return;
  for (const [slot, v] of storage) {
    const post = seen.get(slot);
    if (post === undefined) continue;
    if (BigInt(post) !== BigInt(v)) {
      throw new BundleError(
        "BUNDLE_PRE_MISMATCH",
        `snapshot ${height}: ${addr}[${slot}] disagrees with the diffs`,
        {
          address: addr,
          slot,
        },
      );
    }
    seen.delete(slot);
  }
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
