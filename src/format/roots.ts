/**
 * The header roots that commit to a block's body: `transactionsRoot`, `receiptsRoot` and
 * `withdrawalsRoot` (Yellow Paper §4.3, EIP-2718 typed envelopes, EIP-4895). Each is the root of
 * a Merkle-Patricia trie keyed by `rlp(index)`; since the keys are known and sorted, the root is
 * computed in memory in one pass, without a trie database.
 */
import { RLP } from "@ethereumjs/rlp";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, formatTransaction, hexToBytes, serializeTransaction } from "viem";
import type { Hex } from "../util/hex.ts";
import { BundleError } from "./errors.ts";
import type { RpcBlock, RpcReceipt, RpcTransaction } from "./types.ts";

type Node = Uint8Array | Node[];

const EMPTY = new Uint8Array();

function nibbles(key: Uint8Array): number[] {
  const out: number[] = new Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    out[2 * i] = (key[i] as number) >> 4;
    out[2 * i + 1] = (key[i] as number) & 15;
  }
  return out;
}

/** Hex-prefix encoding of a nibble path (Yellow Paper appendix C). */
function hexPrefix(path: number[], leaf: boolean): Uint8Array {
  const odd = path.length % 2;
  const out = new Uint8Array(1 + (path.length >> 1));
  out[0] = ((leaf ? 2 : 0) + odd) << 4;
  let j = 0;
  if (odd) out[0] |= path[j++] as number;
  for (let i = 1; i < out.length; i++, j += 2) out[i] = ((path[j] as number) << 4) | (path[j + 1] as number);
  return out;
}

/** A child reference: the node itself when its encoding is shorter than 32 bytes, else its hash. */
function ref(node: Node): Node {
  const enc = RLP.encode(node);
  return enc.length < 32 ? node : keccak_256(enc);
}

/** The node over `items[lo, hi)`, whose keys agree on their first `depth` nibbles. */
function build(items: [number[], Uint8Array][], lo: number, hi: number, depth: number): Node {
  const first = items[lo] as [number[], Uint8Array];
  if (hi - lo === 1) return [hexPrefix(first[0].slice(depth), true), first[1]];
  // Longest common prefix beyond `depth`: the first and last keys bound it (sorted keys).
  const last = (items[hi - 1] as [number[], Uint8Array])[0];
  let common = depth;
  while (common < first[0].length && common < last.length && first[0][common] === last[common]) common++;
  if (common > depth) {
    return [hexPrefix(first[0].slice(depth, common), false), ref(build(items, lo, hi, common))];
  }
  const branch: Node[] = new Array(17).fill(EMPTY);
  let i = lo;
  if (first[0].length === depth) {
    branch[16] = first[1];
    i++;
  }
  while (i < hi) {
    const nib = (items[i] as [number[], Uint8Array])[0][depth] as number;
    let j = i + 1;
    while (j < hi && (items[j] as [number[], Uint8Array])[0][depth] === nib) j++;
    branch[nib] = ref(build(items, i, j, depth + 1));
    i = j;
  }
  return branch;
}

/** Root of the trie mapping `rlp(i)` to `values[i]`: what block headers commit to. */
export function orderedTrieRoot(values: Uint8Array[]): Hex {
  if (values.length === 0) return bytesToHex(keccak_256(RLP.encode(EMPTY)));
  const items: [number[], Uint8Array][] = values.map((v, i) => [nibbles(RLP.encode(i)), v]);
  items.sort((a, b) => {
    const n = Math.min(a[0].length, b[0].length);
    for (let k = 0; k < n; k++) if (a[0][k] !== b[0][k]) return (a[0][k] as number) - (b[0][k] as number);
    return a[0].length - b[0].length;
  });
  return bytesToHex(keccak_256(RLP.encode(build(items, 0, items.length, 0))));
}

function quantityBytes(q: unknown): Uint8Array {
  const v = BigInt(q as string);
  if (v === 0n) return EMPTY;
  const h = v.toString(16);
  return hexToBytes(`0x${h.length % 2 ? `0${h}` : h}`);
}

/** The EIP-2718 encoding of a transaction object, as it sits in the block body. */
export function encodeTransaction(tx: RpcTransaction): Uint8Array {
  // viem's formatter maps the RPC object to its transaction type; `input` is serialized as `data`.
  const f = formatTransaction(tx as never) as unknown as Record<string, unknown>;
  f.data = f.input;
  const sig = { r: f.r, s: f.s, v: f.v, yParity: f.yParity } as never;
  return hexToBytes(serializeTransaction(f as never, sig));
}

/** The EIP-2718 encoding of a receipt: `type || rlp([status, cumulativeGasUsed, bloom, logs])`. */
export function encodeReceipt(r: RpcReceipt): Uint8Array {
  const body = RLP.encode([
    r.status !== undefined ? quantityBytes(r.status) : hexToBytes(r.root as Hex),
    quantityBytes(r.cumulativeGasUsed),
    hexToBytes(r.logsBloom as Hex),
    r.logs.map((l) => [hexToBytes(l.address), l.topics.map((t) => hexToBytes(t)), hexToBytes(l.data)]),
  ]);
  const type = Number(r.type ?? 0);
  if (type === 0) return body;
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}

interface RpcWithdrawal {
  index: Hex;
  validatorIndex: Hex;
  address: Hex;
  amount: Hex;
}

/**
 * Checks that a block's transactions, receipts and withdrawals are the ones its header commits
 * to: every transaction re-encodes to its hash, and the three trie roots match. Throws
 * `BUNDLE_ROOT_MISMATCH` naming the first field that does not.
 */
export function verifyBodyRoots(block: RpcBlock, receipts: RpcReceipt[]): void {
  const fail = (field: string, detail: Record<string, unknown> = {}): never => {
    throw new BundleError("BUNDLE_ROOT_MISMATCH", `block ${block.hash}: ${field} does not match`, {
      block: block.hash,
      field,
      ...detail,
    });
  };
  const encoded: Uint8Array[] = [];
  block.transactions.forEach((tx, index) => {
    let enc: Uint8Array = new Uint8Array();
    try {
      enc = encodeTransaction(tx);
    } catch (err) {
      fail("transaction encoding", { index, reason: (err as Error).message });
    }
    if (bytesToHex(keccak_256(enc)) !== tx.hash) fail("transaction hash", { index });
    encoded.push(enc);
  });
  if (orderedTrieRoot(encoded) !== block.transactionsRoot) fail("transactionsRoot");
  if (orderedTrieRoot(receipts.map(encodeReceipt)) !== block.receiptsRoot) fail("receiptsRoot");
  const withdrawals = block.withdrawals as RpcWithdrawal[] | undefined;
  if (block.withdrawalsRoot !== undefined && block.withdrawalsRoot !== null) {
    const values = (withdrawals ?? []).map((w) =>
      RLP.encode([
        quantityBytes(w.index),
        quantityBytes(w.validatorIndex),
        hexToBytes(w.address),
        quantityBytes(w.amount),
      ]),
    );
    if (orderedTrieRoot(values) !== block.withdrawalsRoot) fail("withdrawalsRoot");
  }
}
