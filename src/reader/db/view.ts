/**
 * The reader database as the RPC layer and the EVM read it (`ChainView`): every read is one
 * memory-mapped LMDB lookup or range, answering for the canonical chain up to the progress
 * marker. Stored JSON text is served as it is (`RawJson`).
 */
import {
  type AccountState,
  EMPTY_CODE_HASH,
  type RpcBlock,
  type RpcLog,
  ZERO_WORD,
} from "../../format/index.ts";
import { type Hex, lower } from "../../util/hex.ts";
import {
  type BlockHeader,
  type BlockLogKeys,
  type BlockLogText,
  type ChainInfo,
  type ChainTip,
  type ChainView,
  type HistoryMode,
  RawJson,
  type SyncInfo,
} from "../../view/index.ts";
import { stateFrom } from "./history.ts";
import type { Progress } from "./records.ts";
import { type BlockInfo, DERIVED_VERSION, fromRow, headerOf, normaliseSlot, type Tables } from "./tables.ts";

/**
 * Reads of a reader database. A handle that writes keeps what it wrote (the chain descriptor, the
 * marker) in memory; one that does not (an RPC worker process) reads them on each request,
 * decoding them only when their bytes changed.
 */
export class DbView implements ChainView {
  /** The chain descriptor, once read or written. */
  protected info: ChainInfo | undefined;
  /** The marker this handle last wrote. */
  protected progressCache: Progress | undefined;
  /** The history mode, once read or set. */
  protected history: HistoryMode | undefined;
  /** True when the derived tables are complete (see `DERIVED_VERSION`). */
  protected derivedReady: boolean;
  /** The marker last decoded by a handle that does not write, with its bytes. */
  private progressSeen: { raw: Buffer; value: Progress } | undefined;
  /** The sync position last decoded, with its bytes (read on every gated request). */
  private syncSeen: { raw: Buffer; value: SyncInfo } | undefined;

  constructor(
    protected readonly t: Tables,
    readonly chainId: number,
  ) {
    this.info = t.meta.get("chain") as ChainInfo | undefined;
    this.derivedReady = t.meta.get("derived") === DERIVED_VERSION;
  }

  /** The chain descriptor, once initialised. */
  chainInfo(): ChainInfo | undefined {
    // A handle opened before another process initialised the database learns it here.
    this.info ??= this.t.meta.get("chain") as ChainInfo | undefined;
    return this.info;
  }

  /** The progress marker (last applied block), if any. */
  progress(): Progress | undefined {
    if (this.progressCache) return this.progressCache;
    // Another process writes (this handle is read-only, or not written to yet): read the marker
    // each time, decoding it only when its bytes changed (every request asks for the tip).
    const raw = this.t.meta.getBinary("progress");
    if (raw === undefined) return undefined;
    const seen = this.progressSeen;
    if (seen?.raw.equals(raw)) return seen.value;
    const value = this.t.meta.get("progress") as Progress | undefined;
    if (value !== undefined) this.progressSeen = { raw, value };
    return value;
  }

  /** The sync position (see `SyncInfo`); undefined for a database no syncer has written. */
  syncInfo(): SyncInfo | undefined {
    const raw = this.t.meta.getBinary("sync");
    if (raw === undefined) return undefined;
    const seen = this.syncSeen;
    if (seen?.raw.equals(raw)) return seen.value;
    const value = this.t.meta.get("sync") as SyncInfo;
    this.syncSeen = { raw: Buffer.from(raw), value };
    return value;
  }

  /** The history mode; `archive` for a database that never set one. */
  historyMode(): HistoryMode {
    this.history ??= (this.t.meta.get("history") as HistoryMode | undefined) ?? {
      mode: "archive",
      blocks: 0,
    };
    return this.history;
  }

  /** The highest height whose older state rows were pruned (full history), if any. */
  protected prunedTo(): number | undefined {
    return this.t.meta.get("prunedTo") as number | undefined;
  }

  /** Lowest height whose state is answered: `earliest()`, or in `full` mode tip − N when higher. */
  stateFrom(): number {
    return stateFrom(this.historyMode(), this.earliest(), this.progress()?.height, this.prunedTo());
  }

  earliest(): number {
    return this.chainInfo()?.earliest ?? 0;
  }

  tip(): ChainTip | undefined {
    const p = this.progress();
    return p ? { height: p.height, hash: p.hash, safe: p.safe, finalized: p.finalized } : undefined;
  }

  hasInitialState(): boolean {
    return this.chainInfo()?.hasInitialState ?? false;
  }

  private held(height: number): boolean {
    const p = this.progress();
    return p !== undefined && height >= this.earliest() && height <= p.height;
  }

  heightByHash(hash: Hex): number | undefined {
    const h = this.t.byHash.get(lower(hash));
    return h !== undefined && this.held(h) ? h : undefined;
  }

  block(height: number): RpcBlock | undefined {
    if (!this.held(height)) return undefined;
    const t = this.t.blockFull.get(height);
    return t === undefined ? undefined : (JSON.parse(t) as RpcBlock);
  }

  header(height: number): BlockHeader | undefined {
    if (!this.held(height)) return undefined;
    const h = this.t.blockHead.get(height);
    if (h !== undefined) return h;
    // Not derived yet (a read-only handle on a database its writer has not upgraded).
    const t = this.t.blockLite.get(height);
    return t === undefined ? undefined : headerOf(JSON.parse(t) as RpcBlock);
  }

  blockJson(height: number, full: boolean): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = (full ? this.t.blockFull : this.t.blockLite).get(height);
    return t === undefined ? undefined : new RawJson(t);
  }

  /** Hash and tx count of a held block, without parsing it. */
  blockSummary(height: number): BlockInfo | undefined {
    return this.held(height) ? this.t.blockInfo.get(height) : undefined;
  }

  txLocation(hash: Hex): { height: number; index: number } | undefined {
    const loc = this.t.txLoc.get(lower(hash));
    if (!loc || !this.held(loc[0])) return undefined;
    return { height: loc[0], index: loc[1] };
  }

  txJson(height: number, index: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.t.txJson.get([height, index]);
    return t === undefined ? undefined : new RawJson(t);
  }

  receiptJson(height: number, index: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.t.rcptJson.get([height, index]);
    return t === undefined ? undefined : new RawJson(t);
  }

  blockReceiptsJson(height: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.t.blockRcpts.get(height);
    return t === undefined ? undefined : new RawJson(t);
  }

  blockLogs(height: number): RpcLog[] {
    if (!this.held(height)) return [];
    return this.t.logs.get(height) ?? [];
  }

  blockLogText(height: number): BlockLogText | undefined {
    if (!this.held(height)) return undefined;
    const v = this.t.logText.getBinary(height);
    if (v === undefined) return undefined;
    const n = v.readUInt32LE(0);
    const starts = new Array<number>(n);
    for (let i = 0; i < n; i++) starts[i] = v.readUInt32LE(4 + 4 * i);
    return { json: v.subarray(4 + 4 * n), starts };
  }

  blockLogKeys(height: number): BlockLogKeys | undefined {
    if (!this.held(height)) return undefined;
    const v = this.t.logKeys.get(height);
    return v === undefined ? undefined : { addresses: v.a, topics: v.t };
  }

  logsByAddress(address: string, from: number, to: number): Iterable<[number, number[]]> | undefined {
    if (!this.isDerivedReady()) return undefined;
    const tip = this.progress()?.height ?? -1;
    const last = Math.min(to, tip);
    if (last < from) return [];
    return this.t.logAddr
      .getRange({ start: [address, from], end: [address, last + 1] })
      .map(({ key, value }) => [key[1], value] as [number, number[]]);
  }

  logsBloom(height: number): Hex | undefined {
    return this.blockSummary(height)?.bloom;
  }

  account(address: Hex, height: number): AccountState | null | undefined {
    const addr = lower(address);
    if (height < this.earliest()) return undefined;
    if (this.isDerivedReady()) {
      const last = this.t.acctLast.get(addr);
      // No latest row: the account has no history row at all.
      if (last === undefined) return this.hasInitialState() ? null : undefined;
      if (height >= last[0]) return fromRow(last[1]);
    }
    for (const { value } of this.t.acct.getRange({
      start: [addr, height],
      end: [addr],
      reverse: true,
      limit: 1,
    })) {
      return fromRow(value);
    }
    return this.hasInitialState() ? null : undefined;
  }

  storage(address: Hex, slot: Hex, height: number): Hex | undefined {
    const addr = lower(address);
    const s = normaliseSlot(slot);
    if (height < this.earliest()) return undefined;
    if (this.isDerivedReady()) {
      const last = this.t.storLast.get([addr, s]);
      if (last === undefined) return this.hasInitialState() ? ZERO_WORD : undefined;
      if (height >= last[0]) return last[1];
    }
    for (const { value } of this.t.stor.getRange({
      start: [addr, s, height],
      end: [addr, s],
      reverse: true,
      limit: 1,
    })) {
      return value as Hex;
    }
    return this.hasInitialState() ? ZERO_WORD : undefined;
  }

  // A read-only process may have opened the database before its writer derived the tables.
  private isDerivedReady(): boolean {
    if (!this.derivedReady) this.derivedReady = this.t.meta.get("derived") === DERIVED_VERSION;
    return this.derivedReady;
  }

  code(codeHash: Hex): Hex | undefined {
    if (codeHash === EMPTY_CODE_HASH) return "0x";
    return this.t.codes.get(lower(codeHash)) as Hex | undefined;
  }
}
