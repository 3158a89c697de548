/**
 * An archiver's snapshots: built from its own local copy on a schedule (`--snapshot-every`: a
 * time such as `24h` or a block count such as `10000b`), proven (`writeSnapshot`: the root from
 * the chunks equals the header's), then uploaded to the store part by part, each part read back
 * and compared, the manifest last, so a crash mid-upload never lists a snapshot that is not whole.
 */
import {
  anvilTrie,
  EMPTY_CODE_HASH,
  type SnapshotAccount,
  type SnapshotManifest,
  sha256Hex,
} from "../format/index.ts";
import type { ChainStore } from "../store/index.ts";
import { StoreError } from "../store/index.ts";
import { crashPoint } from "../util/crash.ts";
import { CommonError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import {
  blockAt,
  createSnapshot,
  listSnapshots,
  readManifest,
  readSnapshotBlock,
  retireSnapshots,
  type SnapshotRef,
  writeSnapshot,
} from "./snapshot.ts";

/** A snapshot schedule: every `ms` of wall time, or every `blocks` finalized blocks. */
export type SnapshotEvery = { ms: number } | { blocks: number };

/** Parses `24h`, `90m`, `3600s` or `10000b`. */
export function parseSnapshotEvery(text: string): SnapshotEvery {
  const m = /^(\d+)(h|m|s|b)$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) {
    throw new CommonError(
      "CONFIG_INVALID",
      `snapshotEvery: expected hours, minutes, seconds or blocks (24h, 30m, 10000b), got ${text}`,
    );
  }
  const n = Number(m[1]);
  if (m[2] === "b") return { blocks: n };
  return { ms: n * (m[2] === "h" ? 3_600_000 : m[2] === "m" ? 60_000 : 1000) };
}

/** Copies a snapshot from `from` to `to`: chunks and block, each read back, then the manifest. */
export async function uploadSnapshot(from: ChainStore, to: ChainStore, ref: SnapshotRef): Promise<number> {
  const m = await readManifest(from, ref);
  let bytes = 0;
  const copy = async (key: string, sha256: string) => {
    const data = await from.store.get(key);
    if (!data || sha256Hex(data) !== sha256)
      throw new StoreError("STORE_IO", `local snapshot part ${key} is not whole`);
    await to.store.put(key, data);
    const back = await to.store.get(key);
    if (!back || sha256Hex(back) !== sha256) {
      throw new StoreError("STORE_IO", `snapshot part ${key} read back from the store differs`, { key });
    }
    bytes += data.length;
    crashPoint("snapshot-upload");
  };
  for (const c of m.chunks) await copy(c.key, c.sha256);
  await copy(m.block.key, m.block.sha256);
  const manifest = await from.store.get(ref.manifestKey);
  if (!manifest) throw new StoreError("STORE_NOT_FOUND", `manifest ${ref.manifestKey} missing`);
  await copy(ref.manifestKey, sha256Hex(manifest));
  await readSnapshotBlock(to, await readManifest(to, ref));
  return bytes;
}

/**
 * The archive database a snapshot is built from (a reader's `ChainDb` in archive history mode):
 * state at any height it holds, streamed.
 */
export interface ArchiveState {
  earliest(): number;
  tip(): { height: number } | undefined;
  historyMode(): { mode: string };
  /** The full state after block `height`, in address order. */
  stateEntries(height: number, opts: { zeroSlots: boolean }): Iterable<SnapshotAccount>;
  /** Contracts that transactions of blocks `[from, to]` created. */
  createdContracts(from: number, to: number): Iterable<string>;
}

/**
 * The entries of `state` at `height`, with, on an anvil chain, the empty accounts anvil keeps
 * (see `anvilTrie`): contracts created up to the height that hold no account there, and the
 * initial state's empty accounts (the database records those as "no account").
 */
function* withKeptEmpty(
  entries: Iterable<SnapshotAccount>,
  candidates: string[],
): Generator<SnapshotAccount> {
  const sorted = [...new Set(candidates)].sort();
  let i = 0;
  const empty = (a: string): SnapshotAccount => [a, "0x0", "0x0", EMPTY_CODE_HASH, null, []];
  for (const e of entries) {
    while (i < sorted.length && (sorted[i] as string) < e[0]) yield empty(sorted[i++] as string);
    if (i < sorted.length && sorted[i] === e[0]) {
      i++;
      if (e[1] === "") {
        yield [e[0], "0x0", "0x0", EMPTY_CODE_HASH, null, e[5]];
        continue;
      }
    }
    yield e;
  }
  while (i < sorted.length) yield empty(sorted[i++] as string);
}

/** Takes the archiver's scheduled snapshots of one chain and uploads them. */
export class ArchiverSnapshots {
  constructor(
    private readonly opts: { every: SnapshotEvery; keep: number; chunkEntries?: number },
    private readonly deps: {
      local: ChainStore;
      remote: ChainStore;
      logger: Logger;
      now?: () => number;
      /** The archive database: snapshots stream from it (else they are built from the local copy's blocks). */
      state?: ArchiveState;
      /** Where the state root spills (default: the system's temporary directory). */
      tmpDir?: string;
    },
  ) {}

  /**
   * A snapshot at `height` streamed from the archive database, proven and written to the local
   * copy; undefined when the database does not hold the height's state.
   */
  async fromState(height: number): Promise<SnapshotManifest | undefined> {
    const { local, state, logger } = this.deps;
    const meta = await local.readMeta();
    if (!state || !meta || state.historyMode().mode !== "archive") return undefined;
    const tip = state.tip()?.height;
    if (tip === undefined || height < state.earliest() || height > tip) return undefined;
    const anvil = anvilTrie(meta);
    const candidates: string[] = [];
    if (anvil) {
      candidates.push(...state.createdContracts(state.earliest(), height));
      if (meta.initialState && state.earliest() === meta.fromBlock) {
        const dump = await local.readInitialState(meta.initialState.key, meta.initialState.sha256);
        for (const [a, x] of Object.entries(dump.accounts)) {
          if (BigInt(x.balance) === 0n && BigInt(x.nonce) === 0n && x.code === "0x")
            candidates.push(a.toLowerCase());
        }
      }
    }
    const entries = state.stateEntries(height, { zeroSlots: anvil });
    const block = await blockAt(local, height);
    const started = Date.now();
    const m = await writeSnapshot(
      local,
      { meta, block, entries: anvil ? withKeptEmpty(entries, candidates) : entries, base: null },
      { chunkEntries: this.opts.chunkEntries },
      { logger, tmpDir: this.deps.tmpDir },
    );
    logger.info(
      { height, ms: Date.now() - started, source: "archive database" },
      "snapshot built from local state",
    );
    return m;
  }

  /** Takes and uploads a snapshot when one is due; uploads local ones the store lacks. */
  async maybeSnapshot(): Promise<number | undefined> {
    const { local, remote, logger } = this.deps;
    const meta = await local.readMeta();
    if (!meta?.initialState) return undefined;
    const tip = await local.lastHeight(meta.fromBlock);
    if (tip === undefined) return undefined;
    const finalized = tip - meta.reorgMax;
    const mine = await listSnapshots(local);
    const newest = mine[mine.length - 1];
    let due: boolean;
    if ("blocks" in this.opts.every)
      due = finalized - (newest?.height ?? meta.fromBlock) >= this.opts.every.blocks;
    else {
      const last = newest ? (await readManifest(local, newest)).createdTs : 0;
      due = finalized > meta.fromBlock && (this.deps.now ?? Date.now)() - last >= this.opts.every.ms;
    }
    let made: number | undefined;
    if (due && finalized > (newest?.height ?? -1)) {
      const m = await createSnapshot(
        local,
        { height: finalized, chunkEntries: this.opts.chunkEntries },
        { logger },
      );
      made = m.height;
    }
    // Upload what the store lacks (a crash may have cut an upload short), then retire; never
    // into a store that holds no chain (lost, or being recovered: `recover store` writes it).
    if (!(await remote.readMeta())) return made;
    const theirs = await listSnapshots(remote);
    const highest = theirs[theirs.length - 1]?.height ?? -1;
    for (const s of await listSnapshots(local)) {
      if (s.height <= highest) continue;
      const started = Date.now();
      const bytes = await uploadSnapshot(local, remote, s);
      logger.info({ height: s.height, bytes, ms: Date.now() - started }, "snapshot uploaded and read back");
    }
    await retireSnapshots(local, this.opts.keep);
    await retireSnapshots(remote, this.opts.keep);
    return made;
  }
}
