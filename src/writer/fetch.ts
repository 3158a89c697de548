import {
  BundleError,
  computeBlockHash,
  type RpcBlock,
  type RpcReceipt,
  type StateDiff,
  verifyBodyRoots,
  ZERO_WORD,
} from "../format/index.ts";
import type { RpcCall, Upstream } from "../upstream/index.ts";
import { UpstreamError } from "../upstream/index.ts";
import { type Hex, lower, padHex, toQuantity } from "../util/hex.ts";
import {
  accountFromReads,
  diffMismatch,
  foldPrestateDiffs,
  type PrestateDiffFrame,
  sameAccount,
} from "./diff.ts";
import type { CrossCheck, DiffSource } from "./options.ts";

/** EIP-2935 block-hash history contract (Prague): slot (n−1) mod 8191 ← parent hash. */
const HISTORY_CONTRACT: Hex = "0x0000f90827f1c53a10cb7a02335b175320002935";
const HISTORY_WINDOW = 8191n;
/** EIP-4788 beacon-roots contract (Cancun): slots ts mod 8191 and +8191. */
const BEACON_ROOTS_CONTRACT: Hex = "0x000f3df6d732807ef1319fb7b8bb8522d0beac02";
const BEACON_WINDOW = 8191n;

/** Everything fetched for one block. */
export interface FetchedBlock {
  block: RpcBlock;
  receipts: RpcReceipt[];
  diff: StateDiff;
}

/** Which upstream methods work, learnt on first use. */
export interface Capabilities {
  blockReceipts?: boolean;
  prestateDiff?: boolean;
  replayStateDiff?: boolean;
}

function unwrap<T>(v: unknown): T {
  if (v instanceof Error) throw v;
  return v as T;
}

/**
 * Fetches block `height` with full transactions, its receipts and its state diff (pre and post
 * values), verifies the block hash against the header, and cross-checks the diff against plain
 * state reads when asked.
 */
export async function fetchBlock(
  up: Upstream,
  height: number,
  caps: Capabilities,
  crossCheck: CrossCheck,
  diffSource: DiffSource,
): Promise<FetchedBlock> {
  const q = toQuantity(height);
  const block = await up.request<RpcBlock | null>("eth_getBlockByNumber", [q, true]);
  if (!block) throw new UpstreamError("UPSTREAM_NO_BLOCK", `upstream has no block ${height}`, { height });
  const computed = computeBlockHash(block);
  if (computed !== block.hash) {
    throw new BundleError("BUNDLE_HASH_MISMATCH", `upstream block ${height} hash does not match its header`, {
      height,
      claimed: block.hash,
      computed,
    });
  }
  // Pin every further read to this block's hash (EIP-1898) so a concurrent reorg cannot mix blocks.
  const [receipts, diff] = await Promise.all([
    fetchReceipts(up, block, caps),
    fetchDiff(up, block, caps, diffSource),
  ]);
  // Readers refuse a bundle whose transactions and receipts are not the ones the header commits
  // to; refuse it here first, so that it is fetched again rather than committed.
  verifyBodyRoots(block, receipts);
  await addSystemChanges(up, block, diff);
  if (crossCheck === "always" || (crossCheck === "sample" && Math.random() < 0.05)) {
    await crossCheckDiff(up, block, diff);
  }
  return { block, receipts, diff };
}

async function fetchReceipts(up: Upstream, block: RpcBlock, caps: Capabilities): Promise<RpcReceipt[]> {
  if (caps.blockReceipts !== false) {
    try {
      const r = await up.request<RpcReceipt[] | null>("eth_getBlockReceipts", [block.hash]);
      if (r) {
        caps.blockReceipts = true;
        return r;
      }
    } catch (err) {
      if (caps.blockReceipts) throw err;
      caps.blockReceipts = false;
    }
  }
  const res = await up.batch(
    block.transactions.map((t) => ({ method: "eth_getTransactionReceipt", params: [t.hash] })),
  );
  return res.map((r, i) => {
    const rec = unwrap<RpcReceipt | null>(r);
    if (!rec || rec.blockHash !== block.hash) {
      throw new UpstreamError(
        "UPSTREAM_RPC",
        `receipt ${i} of block ${block.hash} missing or from another block`,
        {
          tx: block.transactions[i]?.hash,
        },
      );
    }
    return rec;
  });
}

/** Which upstream method the writer takes state diffs from. */

async function fetchDiff(
  up: Upstream,
  block: RpcBlock,
  caps: Capabilities,
  source: DiffSource,
): Promise<StateDiff> {
  if (block.transactions.length === 0) return { accounts: {}, storage: {}, codes: {} };
  // `auto` prefers trace_replayBlockTransactions: on anvil it costs O(txs) where
  // debug_traceBlock* re-executes the block per transaction (measured: 43 ms vs 5.2 s for 200
  // transactions); nodes without the trace_* namespace (geth) fall back to prestateTracer.
  const order: ("replay" | "prestate")[] = source === "auto" ? ["replay", "prestate"] : [source];
  let lastErr: unknown;
  for (const kind of order) {
    if (kind === "replay" && caps.replayStateDiff === false) continue;
    if (kind === "prestate" && caps.prestateDiff === false) continue;
    try {
      if (kind === "replay") {
        const replay = await up.request<{ stateDiff: Record<Hex, ParityAccountDiff> | null }[]>(
          "trace_replayBlockTransactions",
          [block.number, ["stateDiff"]],
        );
        caps.replayStateDiff = true;
        // trace_replay* takes a number: make sure it still named this block (no reorg between).
        const still = await up.request<RpcBlock | null>("eth_getBlockByNumber", [block.number, false]);
        if (still?.hash !== block.hash) {
          throw new UpstreamError("UPSTREAM_RPC", `block ${block.number} changed while it was traced`, {
            height: block.number,
          });
        }
        return await foldParityDiffs(
          up,
          block,
          replay.map((r) => r.stateDiff ?? {}),
        );
      }
      const frames = await up.request<{ result: PrestateDiffFrame; txHash?: Hex }[]>(
        "debug_traceBlockByHash",
        [block.hash, { tracer: "prestateTracer", tracerConfig: { diffMode: true } }],
      );
      caps.prestateDiff = true;
      return foldPrestateDiffs(frames.map((f) => f.result));
    } catch (err) {
      lastErr = err;
      const known = kind === "replay" ? caps.replayStateDiff : caps.prestateDiff;
      // A method that worked before failing now is a real error, not a missing method.
      if (known) throw err;
      if (kind === "replay") caps.replayStateDiff = false;
      else caps.prestateDiff = false;
    }
  }
  throw new UpstreamError(
    "UPSTREAM_UNSUPPORTED",
    "upstream offers no per-block state diff",
    {},
    { cause: lastErr },
  );
}

type ParityChange<T> = "=" | { "+": T } | { "-": T } | { "*": { from: T; to: T } };
interface ParityAccountDiff {
  balance: ParityChange<Hex>;
  nonce: ParityChange<Hex>;
  code: ParityChange<Hex>;
  storage: Record<Hex, ParityChange<Hex>>;
}

function changeFrom<T>(c: ParityChange<T>): T | undefined {
  if (c === "=" || "+" in c) return undefined;
  return "-" in c ? c["-"] : c["*"].from;
}

function changeTo<T>(c: ParityChange<T>): T | undefined {
  if (c === "=" || "-" in c) return undefined;
  return "+" in c ? c["+"] : c["*"].to;
}

/**
 * Folds per-transaction parity `stateDiff`s into a block diff. Parity names only changed fields,
 * so the post-state of every touched account is read at the block (one batch) and its pre-state
 * is the post-state with each changed field set back to its first `from` value.
 */
export async function foldParityDiffs(
  up: Upstream,
  block: RpcBlock,
  frames: Record<Hex, ParityAccountDiff>[],
): Promise<StateDiff> {
  type Track = {
    existedBefore?: boolean;
    /** First pre-values of changed fields. */
    balance?: Hex;
    nonce?: Hex;
    code?: Hex;
    /** Last post-values of changed fields. */
    balanceTo?: Hex;
    nonceTo?: Hex;
    codeTo?: Hex;
    /** Destroyed by the last transaction that touched it. */
    dead?: boolean;
    slots: Map<Hex, [Hex, Hex]>;
  };
  const tracks = new Map<Hex, Track>();
  for (const sd of frames) {
    for (const [rawAddr, d] of Object.entries(sd) as [Hex, ParityAccountDiff][]) {
      const addr = lower(rawAddr);
      let t = tracks.get(addr);
      if (!t) {
        t = { slots: new Map() };
        tracks.set(addr, t);
      }
      const born = typeof d.balance === "object" && "+" in d.balance;
      if (t.existedBefore === undefined) t.existedBefore = !born;
      if (t.balance === undefined) t.balance = changeFrom(d.balance);
      if (t.nonce === undefined) t.nonce = changeFrom(d.nonce);
      if (t.code === undefined) t.code = changeFrom(d.code);
      // Post-values of changed fields come from the trace too: a state read at a block that is
      // the upstream's head can race with the next block being built (seen on anvil).
      t.balanceTo = changeTo(d.balance) ?? t.balanceTo;
      t.nonceTo = changeTo(d.nonce) ?? t.nonceTo;
      t.codeTo = changeTo(d.code) ?? t.codeTo;
      if (typeof d.balance === "object" && "-" in d.balance) t.dead = true;
      else if (typeof d.balance === "object" && "+" in d.balance) t.dead = false;
      for (const [rawSlot, c] of Object.entries(d.storage ?? {}) as [Hex, ParityChange<Hex>][]) {
        const slot = padHex(lower(rawSlot), 32);
        const from = padHex(lower(changeFrom(c) ?? ZERO_WORD), 32);
        const to = padHex(lower(changeTo(c) ?? ZERO_WORD), 32);
        const cur = t.slots.get(slot);
        t.slots.set(slot, [cur ? cur[0] : from, to]);
      }
    }
  }
  const addrs = [...tracks.keys()];
  const at = { blockHash: block.hash };
  const res = await up.batch(
    addrs.flatMap((a) => [
      { method: "eth_getBalance", params: [a, at] },
      { method: "eth_getTransactionCount", params: [a, at] },
      { method: "eth_getCode", params: [a, at] },
    ]),
  );
  const diff: StateDiff = { accounts: {}, storage: {}, codes: {} };
  addrs.forEach((addr, i) => {
    const t = tracks.get(addr) as Track;
    const balance = unwrap<Hex>(res[3 * i]);
    const nonce = unwrap<Hex>(res[3 * i + 1]);
    const code = unwrap<Hex>(res[3 * i + 2]);
    const post = t.dead
      ? { state: null, code: "0x" as Hex }
      : accountFromReads(t.balanceTo ?? balance, t.nonceTo ?? nonce, t.codeTo ?? code);
    const pre = t.existedBefore
      ? accountFromReads(t.balance ?? balance, t.nonce ?? nonce, t.code ?? code)
      : { state: null, code: "0x" as Hex };
    for (const side of [pre, post])
      if (side.state && side.code !== "0x") diff.codes[side.state.codeHash] = side.code;
    if (!sameAccount(pre.state, post.state)) diff.accounts[addr] = { pre: pre.state, post: post.state };
    for (const [slot, [from, to]] of t.slots) {
      if (from === to) continue;
      diff.storage[addr] ??= {};
      diff.storage[addr][slot] = [from, to];
    }
  });
  return diff;
}

/**
 * Adds the storage writes of system calls that transaction traces do not show: EIP-2935 block
 * hash history and EIP-4788 beacon roots, read from the upstream before and after the block.
 */
async function addSystemChanges(up: Upstream, block: RpcBlock, diff: StateDiff): Promise<void> {
  const n = BigInt(block.number);
  if (n === 0n) return;
  const ts = BigInt(block.timestamp);
  const slots: [Hex, Hex][] = [[HISTORY_CONTRACT, padHex(toQuantity((n - 1n) % HISTORY_WINDOW), 32)]];
  if (block.parentBeaconBlockRoot !== undefined) {
    slots.push([BEACON_ROOTS_CONTRACT, padHex(toQuantity(ts % BEACON_WINDOW), 32)]);
    slots.push([BEACON_ROOTS_CONTRACT, padHex(toQuantity((ts % BEACON_WINDOW) + BEACON_WINDOW), 32)]);
  }
  const parent = { blockHash: block.parentHash };
  const self = { blockHash: block.hash };
  const calls: RpcCall[] = [];
  for (const [addr, slot] of slots) {
    calls.push({ method: "eth_getStorageAt", params: [addr, slot, parent] });
    calls.push({ method: "eth_getStorageAt", params: [addr, slot, self] });
  }
  const res = await up.batch(calls);
  slots.forEach(([addr, slot], i) => {
    const before = padHex(lower(unwrap<Hex>(res[2 * i])), 32);
    const after = padHex(lower(unwrap<Hex>(res[2 * i + 1])), 32);
    if (before === after) return;
    const cur = diff.storage[addr]?.[slot];
    diff.storage[addr] ??= {};
    diff.storage[addr][slot] = [cur ? cur[0] : before, after];
  });
}

/**
 * Reads every touched account and slot at the block (and its parent) with plain state calls and
 * refuses the diff when a value disagrees (prestateTracer has had self-destruct and storage bugs).
 */
export async function crossCheckDiff(up: Upstream, block: RpcBlock, diff: StateDiff): Promise<void> {
  const height = Number(block.number);
  const at = { blockHash: block.hash };
  const before = { blockHash: block.parentHash };
  const calls: RpcCall[] = [];
  const addrs = Object.keys(diff.accounts) as Hex[];
  for (const a of addrs) {
    for (const tag of [before, at]) {
      calls.push({ method: "eth_getBalance", params: [a, tag] });
      calls.push({ method: "eth_getTransactionCount", params: [a, tag] });
      calls.push({ method: "eth_getCode", params: [a, tag] });
    }
  }
  const slots: [Hex, Hex, Hex, Hex][] = [];
  for (const [a, m] of Object.entries(diff.storage) as [Hex, Record<Hex, [Hex, Hex]>][]) {
    for (const [s, [p, v]] of Object.entries(m) as [Hex, [Hex, Hex]][]) {
      slots.push([a, s, p, v]);
      calls.push({ method: "eth_getStorageAt", params: [a, s, before] });
      calls.push({ method: "eth_getStorageAt", params: [a, s, at] });
    }
  }
  const res = await up.batch(calls);
  let i = 0;
  for (const a of addrs) {
    const d = diff.accounts[a];
    for (const side of ["pre", "post"] as const) {
      const got = accountFromReads(unwrap(res[i]), unwrap(res[i + 1]), unwrap(res[i + 2]));
      i += 3;
      const want = d?.[side] ?? null;
      if (!sameAccount(got.state, want))
        diffMismatch(height, `${side} account ${a}`, { address: a, got: got.state, want });
    }
  }
  for (const [a, s, p, v] of slots) {
    const gotPre = padHex(lower(unwrap<Hex>(res[i])), 32);
    const gotPost = padHex(lower(unwrap<Hex>(res[i + 1])), 32);
    i += 2;
    if (gotPre !== p || gotPost !== v) {
      diffMismatch(height, `storage ${a} ${s}`, {
        address: a,
        slot: s,
        got: [gotPre, gotPost],
        want: [p, v],
      });
    }
  }
}
