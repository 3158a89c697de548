import { keccak256 } from "viem";
import { type AccountState, EMPTY_CODE_HASH, type StateDiff, ZERO_WORD } from "../format/index.ts";
import { type Hex, lower, padHex } from "../util/hex.ts";
import { WriterError } from "./errors.ts";

/** One account in a `prestateTracer` frame (geth semantics: empty fields omitted). */
interface TraceAccount {
  balance?: Hex;
  nonce?: number;
  code?: Hex;
  storage?: Record<Hex, Hex>;
}

/** One transaction's `prestateTracer` result with `diffMode: true`. */
export interface PrestateDiffFrame {
  pre: Record<Hex, TraceAccount>;
  post: Record<Hex, TraceAccount>;
}

interface FullAccount {
  balance: bigint;
  nonce: bigint;
  code: Hex;
}

function fullOf(a: TraceAccount | undefined): FullAccount | null {
  if (!a) return null;
  return { balance: BigInt(a.balance ?? "0x0"), nonce: BigInt(a.nonce ?? 0), code: lower(a.code ?? "0x") };
}

function isEmpty(a: FullAccount | null): boolean {
  return a === null || (a.balance === 0n && a.nonce === 0n && a.code === "0x");
}

/**
 * Folds the per-transaction `prestateTracer` diff frames of a block into one block-level diff with
 * full pre- and post-values. geth semantics: `pre` holds the whole account (empty fields omitted)
 * and only the storage slots that changed (zero pre-values omitted); `post` holds only changed
 * fields (zero storage omitted); an account in `pre` but not in `post` was destroyed. Empty
 * accounts (EIP-161) are recorded as not existing.
 */
export function foldPrestateDiffs(frames: PrestateDiffFrame[]): StateDiff {
  const pre = new Map<Hex, FullAccount | null>();
  const cur = new Map<Hex, FullAccount | null>();
  const preSlots = new Map<Hex, Map<Hex, Hex>>();
  const curSlots = new Map<Hex, Map<Hex, Hex>>();
  const slotsOf = (m: Map<Hex, Map<Hex, Hex>>, addr: Hex) => {
    let s = m.get(addr);
    if (!s) {
      s = new Map();
      m.set(addr, s);
    }
    return s;
  };

  for (const frame of frames) {
    const addrs = new Set<Hex>(
      [...Object.keys(frame.pre ?? {}), ...Object.keys(frame.post ?? {})].map((a) => lower(a)),
    );
    for (const addr of addrs) {
      const tpre = frame.pre?.[addr] ?? findCase(frame.pre, addr);
      const tpost = frame.post?.[addr] ?? findCase(frame.post, addr);
      const before = fullOf(tpre);
      if (!pre.has(addr)) pre.set(addr, isEmpty(before) ? null : before);
      let after: FullAccount | null;
      if (tpost) {
        const base = before ?? { balance: 0n, nonce: 0n, code: "0x" as Hex };
        after = {
          balance: tpost.balance !== undefined ? BigInt(tpost.balance) : base.balance,
          nonce: tpost.nonce !== undefined ? BigInt(tpost.nonce) : base.nonce,
          code: tpost.code !== undefined ? lower(tpost.code) : base.code,
        };
      } else {
        after = null;
      }
      cur.set(addr, isEmpty(after) ? null : after);

      const ps = slotsOf(preSlots, addr);
      const cs = slotsOf(curSlots, addr);
      const slots = new Set<Hex>([
        ...Object.keys(tpre?.storage ?? {}).map((s) => lower(s)),
        ...Object.keys(tpost?.storage ?? {}).map((s) => lower(s)),
      ]);
      for (const slot of slots) {
        const pv = findCase(tpre?.storage, slot) ?? ZERO_WORD;
        if (!ps.has(slot)) ps.set(slot, padHex(lower(pv), 32));
        const nv = tpost ? (findCase(tpost.storage, slot) ?? ZERO_WORD) : ZERO_WORD;
        cs.set(slot, padHex(lower(nv), 32));
      }
    }
  }

  const diff: StateDiff = { accounts: {}, storage: {}, codes: {} };
  for (const [addr, before] of pre) {
    const after = cur.get(addr) ?? null;
    const p = toState(before, diff);
    const q = toState(after, diff);
    if (!sameAccount(p, q)) diff.accounts[addr] = { pre: p, post: q };
    const ps = preSlots.get(addr);
    const cs = curSlots.get(addr);
    if (ps && cs) {
      for (const [slot, pv] of ps) {
        const nv = cs.get(slot) ?? ZERO_WORD;
        if (nv === pv) continue;
        diff.storage[addr] ??= {};
        diff.storage[addr][slot] = [pv, nv];
      }
    }
  }
  // Codes of pre-states are needed to unwind: keep them all.
  return diff;
}

function findCase<T>(rec: Record<Hex, T> | undefined, key: Hex): T | undefined {
  if (!rec) return undefined;
  const direct = rec[key];
  if (direct !== undefined) return direct;
  for (const k of Object.keys(rec)) if (k.toLowerCase() === key) return rec[k as Hex];
  return undefined;
}

function toState(a: FullAccount | null, diff: StateDiff): AccountState | null {
  if (!a) return null;
  const codeHash = a.code === "0x" ? EMPTY_CODE_HASH : keccak256(a.code);
  if (a.code !== "0x") diff.codes[codeHash] = a.code;
  return { balance: `0x${a.balance.toString(16)}`, nonce: `0x${a.nonce.toString(16)}`, codeHash };
}

/** True when two account states are equal (null = not existing). */
export function sameAccount(a: AccountState | null, b: AccountState | null): boolean {
  if (a === null || b === null) return a === b;
  return a.balance === b.balance && a.nonce === b.nonce && a.codeHash === b.codeHash;
}

/** Converts an account read by plain RPC calls to the diff's representation. */
export function accountFromReads(
  balance: Hex,
  nonce: Hex,
  code: Hex,
): { state: AccountState | null; code: Hex } {
  const c = lower(code);
  const full: FullAccount = { balance: BigInt(balance), nonce: BigInt(nonce), code: c };
  if (isEmpty(full)) return { state: null, code: c };
  return {
    state: {
      balance: `0x${full.balance.toString(16)}`,
      nonce: `0x${full.nonce.toString(16)}`,
      codeHash: c === "0x" ? EMPTY_CODE_HASH : keccak256(c),
    },
    code: c,
  };
}

/** Throws UPSTREAM_DIFF_MISMATCH describing the first disagreement. */
export function diffMismatch(height: number, what: string, meta: Record<string, unknown>): never {
  throw new WriterError(
    "UPSTREAM_DIFF_MISMATCH",
    `block ${height}: state diff disagrees with state reads (${what})`,
    {
      height,
      ...meta,
    },
  );
}
