import { type Database, open, type RootDatabase } from "lmdb";
import { keccak256 } from "viem";
import type { AccountState, Bundle, HeadRecord, RpcBlock, RpcLog, StateDump } from "../format/index.ts";
import { ChainkeepError } from "../util/errors.ts";
import { type Hex, lower } from "../util/hex.ts";
import { type ChainTip, type ChainView, RawJson } from "./view.ts";

const EMPTY_CODE_HASH: Hex = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
const ZERO_WORD: Hex = `0x${"0".repeat(64)}`;

/** Options of the reader's local database. */
export interface ChainDbOptions {
  /** Directory of the LMDB environment. */
  path: string;
  /** Chain id this database holds; opening it for another chain fails. */
  chainId: number;
  /** Open read-only (RPC worker processes). */
  readOnly?: boolean;
}

/** What the database records about the chain it mirrors. */
export interface ChainInfo {
  chainId: number;
  /** First height held (the writer's fromBlock). */
  earliest: number;
  hasInitialState: boolean;
  genesisHash: Hex;
  /** The store prefix (writer line) the data came from. */
  prefix: string;
}

/** The progress marker, written in the same transaction as the block it names. */
export interface Progress extends ChainTip {
  writeTs: number;
}

interface BlockInfo {
  hash: Hex;
  parentHash: Hex;
  bloom: Hex;
  txCount: number;
}

type AccountRow = { b: Hex; n: Hex; c: Hex } | null;

function toRow(a: AccountState | null): AccountRow {
  return a ? { b: a.balance, n: a.nonce, c: a.codeHash } : null;
}

function fromRow(r: AccountRow): AccountState | null {
  return r ? { balance: r.b, nonce: r.n, codeHash: r.c } : null;
}

/**
 * The reader's local database (LMDB). Blocks, transactions and receipts are kept as the JSON
 * text the upstream returned, ready to serve; state is kept as history rows keyed by
 * (address, height) and (address, slot, height), so the state after any held block is one
 * reverse range read. Each block is applied in one write transaction together with the progress
 * marker, so a crash at any moment leaves the database at a block boundary.
 */
export class ChainDb implements ChainView {
  readonly chainId: number;
  private readonly env: RootDatabase;
  private readonly meta: Database;
  private readonly blockFull: Database<string, number>;
  private readonly blockLite: Database<string, number>;
  private readonly blockRcpts: Database<string, number>;
  private readonly blockInfo: Database<BlockInfo, number>;
  private readonly logsDb: Database<RpcLog[], number>;
  private readonly byHash: Database<number, string>;
  private readonly txLoc: Database<[number, number], string>;
  private readonly txJsonDb: Database<string, [number, number]>;
  private readonly rcptJson: Database<string, [number, number]>;
  private readonly acct: Database<AccountRow, [string, number]>;
  private readonly stor: Database<string, [string, string, number]>;
  private readonly codes: Database<string, string>;
  private info: ChainInfo | undefined;
  private progressCache: Progress | undefined;

  constructor(opts: ChainDbOptions) {
    this.chainId = opts.chainId;
    this.env = open({ path: opts.path, maxDbs: 16, readOnly: opts.readOnly ?? false });
    const str = { encoding: "string" as const };
    this.meta = this.env.openDB({ name: "meta" });
    this.blockFull = this.env.openDB({ name: "blockFull", keyEncoding: "uint32", ...str });
    this.blockLite = this.env.openDB({ name: "blockLite", keyEncoding: "uint32", ...str });
    this.blockRcpts = this.env.openDB({ name: "blockRcpts", keyEncoding: "uint32", ...str });
    this.blockInfo = this.env.openDB({ name: "blockInfo", keyEncoding: "uint32" });
    this.logsDb = this.env.openDB({ name: "blockLogs", keyEncoding: "uint32" });
    this.byHash = this.env.openDB({ name: "byHash" });
    this.txLoc = this.env.openDB({ name: "txLoc" });
    this.txJsonDb = this.env.openDB({ name: "txJson", ...str });
    this.rcptJson = this.env.openDB({ name: "rcptJson", ...str });
    this.acct = this.env.openDB({ name: "acct" });
    this.stor = this.env.openDB({ name: "stor", ...str });
    this.codes = this.env.openDB({ name: "codes", ...str });
    this.info = this.meta.get("chain") as ChainInfo | undefined;
    if (this.info && this.info.chainId !== opts.chainId) {
      throw new ChainkeepError(
        "CONFIG_INVALID",
        `database at ${opts.path} holds chain ${this.info.chainId}`,
        {
          path: opts.path,
        },
      );
    }
  }

  /** The chain descriptor, once initialised. */
  chainInfo(): ChainInfo | undefined {
    return this.info;
  }

  /** The progress marker (last applied block), if any. */
  progress(): Progress | undefined {
    if (this.progressCache) return this.progressCache;
    return this.meta.get("progress") as Progress | undefined;
  }

  /**
   * Records the chain descriptor and, when given, the full state at `earliest`, in one
   * transaction. Called once, before the first block is applied.
   */
  initialise(info: ChainInfo, state: StateDump | null): void {
    if (this.info) throw new ChainkeepError("INTERNAL", "database already initialised");
    this.env.transactionSync(() => {
      if (state) {
        for (const [addr, a] of Object.entries(state.accounts)) {
          const ch = a.code === "0x" ? EMPTY_CODE_HASH : keccak256(a.code);
          if (a.code !== "0x") this.codes.put(ch, a.code);
          const empty = BigInt(a.balance) === 0n && BigInt(a.nonce) === 0n && a.code === "0x";
          this.acct.put([addr, info.earliest], empty ? null : { b: a.balance, n: a.nonce, c: ch });
          for (const [slot, v] of Object.entries(a.storage)) this.stor.put([addr, slot, info.earliest], v);
        }
      }
      this.meta.put("chain", info);
    });
    this.info = info;
  }

  /**
   * Verifies and applies one block in one transaction with the progress marker. Refuses a block
   * that does not extend the applied chain, or whose pre-state disagrees with the held state.
   */
  applyBlock(bundle: Bundle, rec: HeadRecord): void {
    const info = this.info;
    if (!info) throw new ChainkeepError("INTERNAL", "database not initialised");
    const prog = this.progress();
    const height = rec.height;
    if (prog) {
      if (height !== prog.height + 1 || bundle.block.parentHash !== prog.hash) {
        throw new ChainkeepError(
          "BUNDLE_PARENT_MISMATCH",
          `block ${height} does not extend applied block ${prog.height}`,
          {
            height,
            parentHash: bundle.block.parentHash,
            applied: prog.hash,
          },
        );
      }
    } else if (height !== info.earliest) {
      throw new ChainkeepError(
        "BUNDLE_PARENT_MISMATCH",
        `first block must be ${info.earliest}, got ${height}`,
        { height },
      );
    }
    if (height > info.earliest) this.checkPreState(bundle, height);
    const next: Progress = {
      height,
      hash: rec.hash,
      writeTs: rec.writeTs,
      safe: Math.min(rec.safe, height),
      finalized: Math.min(rec.finalized, height),
    };
    this.env.transactionSync(() => {
      this.writeBlock(bundle, height);
      this.meta.put("progress", next);
    });
    this.progressCache = next;
  }

  private checkPreState(bundle: Bundle, height: number): void {
    for (const [addr, d] of Object.entries(bundle.diff.accounts) as [Hex, { pre: AccountState | null }][]) {
      const held = this.account(addr, height - 1);
      if (held === undefined) continue;
      const pre = d.pre;
      const same =
        held === null || pre === null
          ? held === pre
          : held.balance === pre.balance && held.nonce === pre.nonce && held.codeHash === pre.codeHash;
      if (!same) {
        throw new ChainkeepError(
          "BUNDLE_PRE_MISMATCH",
          `block ${height}: pre-state of ${addr} disagrees with held state`,
          {
            height,
            address: addr,
            held,
            pre,
          },
        );
      }
    }
    for (const [addr, slots] of Object.entries(bundle.diff.storage) as [Hex, Record<Hex, [Hex, Hex]>][]) {
      for (const [slot, [pre]] of Object.entries(slots) as [Hex, [Hex, Hex]][]) {
        const held = this.storage(addr, slot, height - 1);
        if (held !== undefined && held !== pre) {
          throw new ChainkeepError(
            "BUNDLE_PRE_MISMATCH",
            `block ${height}: pre-value of ${addr}[${slot}] disagrees`,
            {
              height,
              address: addr,
              slot,
              held,
              pre,
            },
          );
        }
      }
    }
  }

  private writeBlock(bundle: Bundle, height: number): void {
    const block = bundle.block;
    const hash = lower(block.hash);
    this.blockFull.put(height, JSON.stringify(block));
    this.blockLite.put(
      height,
      JSON.stringify({ ...block, transactions: block.transactions.map((t) => t.hash) }),
    );
    this.blockRcpts.put(height, JSON.stringify(bundle.receipts));
    const logs: RpcLog[] = [];
    for (const r of bundle.receipts) for (const l of r.logs) logs.push(l);
    this.logsDb.put(height, logs);
    this.blockInfo.put(height, {
      hash,
      parentHash: block.parentHash,
      bloom: (block.logsBloom as Hex) ?? "0x",
      txCount: block.transactions.length,
    });
    this.byHash.put(hash, height);
    block.transactions.forEach((tx, i) => {
      this.txLoc.put(lower(tx.hash), [height, i]);
      this.txJsonDb.put([height, i], JSON.stringify(tx));
      this.rcptJson.put([height, i], JSON.stringify(bundle.receipts[i]));
    });
    for (const [addr, d] of Object.entries(bundle.diff.accounts))
      this.acct.put([addr, height], toRow(d.post));
    for (const [addr, slots] of Object.entries(bundle.diff.storage)) {
      for (const [slot, [, post]] of Object.entries(slots)) this.stor.put([addr, slot, height], post);
    }
    for (const [ch, code] of Object.entries(bundle.diff.codes)) {
      if (!this.codes.doesExist(ch)) this.codes.put(ch, code);
    }
  }

  // ---- ChainView ----

  earliest(): number {
    return this.info?.earliest ?? 0;
  }

  tip(): ChainTip | undefined {
    const p = this.progress();
    return p ? { height: p.height, hash: p.hash, safe: p.safe, finalized: p.finalized } : undefined;
  }

  hasInitialState(): boolean {
    return this.info?.hasInitialState ?? false;
  }

  private held(height: number): boolean {
    const p = this.progress();
    return p !== undefined && height >= this.earliest() && height <= p.height;
  }

  heightByHash(hash: Hex): number | undefined {
    const h = this.byHash.get(lower(hash));
    return h !== undefined && this.held(h) ? h : undefined;
  }

  block(height: number): RpcBlock | undefined {
    if (!this.held(height)) return undefined;
    const t = this.blockFull.get(height);
    return t === undefined ? undefined : (JSON.parse(t) as RpcBlock);
  }

  blockJson(height: number, full: boolean): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = (full ? this.blockFull : this.blockLite).get(height);
    return t === undefined ? undefined : new RawJson(t);
  }

  /** Hash and tx count of a held block, without parsing it. */
  blockSummary(height: number): BlockInfo | undefined {
    return this.held(height) ? this.blockInfo.get(height) : undefined;
  }

  txLocation(hash: Hex): { height: number; index: number } | undefined {
    const loc = this.txLoc.get(lower(hash));
    if (!loc || !this.held(loc[0])) return undefined;
    return { height: loc[0], index: loc[1] };
  }

  txJson(height: number, index: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.txJsonDb.get([height, index]);
    return t === undefined ? undefined : new RawJson(t);
  }

  receiptJson(height: number, index: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.rcptJson.get([height, index]);
    return t === undefined ? undefined : new RawJson(t);
  }

  blockReceiptsJson(height: number): RawJson | undefined {
    if (!this.held(height)) return undefined;
    const t = this.blockRcpts.get(height);
    return t === undefined ? undefined : new RawJson(t);
  }

  blockLogs(height: number): RpcLog[] {
    if (!this.held(height)) return [];
    return this.logsDb.get(height) ?? [];
  }

  logsBloom(height: number): Hex | undefined {
    return this.blockSummary(height)?.bloom;
  }

  account(address: Hex, height: number): AccountState | null | undefined {
    const addr = lower(address);
    if (height < this.earliest()) return undefined;
    for (const { value } of this.acct.getRange({
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
    for (const { value } of this.stor.getRange({
      start: [addr, s, height],
      end: [addr, s],
      reverse: true,
      limit: 1,
    })) {
      return value as Hex;
    }
    return this.hasInitialState() ? ZERO_WORD : undefined;
  }

  code(codeHash: Hex): Hex | undefined {
    if (codeHash === EMPTY_CODE_HASH) return "0x";
    return this.codes.get(lower(codeHash)) as Hex | undefined;
  }

  /** Flushes and closes the environment. */
  async close(): Promise<void> {
    await this.env.close();
  }
}

/** A storage key as a 32-byte lower-case word. */
export function normaliseSlot(slot: string): Hex {
  const h = slot.slice(2).toLowerCase().replace(/^0+/, "");
  return `0x${h.padStart(64, "0")}`;
}
