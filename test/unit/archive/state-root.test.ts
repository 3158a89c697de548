import assert from "node:assert/strict";
import { test } from "node:test";
import { MerklePatriciaTrie } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import { Account, bytesToHex, hexToBytes, unpadBytes } from "@ethereumjs/util";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { EMPTY_TRIE_ROOT, SortedTrie, stateRootOf } from "../../../src/archive/state-root.ts";
import type { SnapshotAccount } from "../../../src/format/index.ts";

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hex(r: () => number, bytes: number): string {
  let s = "0x";
  for (let i = 0; i < bytes; i++)
    s += Math.floor(r() * 256)
      .toString(16)
      .padStart(2, "0");
  return s;
}

function quantity(r: () => number): string {
  const n = BigInt(Math.floor(r() * 2 ** 40)) * BigInt(Math.floor(r() * 1000));
  return `0x${n.toString(16)}`;
}

/** Random accounts; keys that share long prefixes come from a few common address stems. */
function accounts(seed: number, n: number, maxSlots: number): SnapshotAccount[] {
  const r = rng(seed);
  const out: SnapshotAccount[] = [];
  for (let i = 0; i < n; i++) {
    const slots: [string, string][] = [];
    const k = Math.floor(r() * (maxSlots + 1));
    for (let j = 0; j < k; j++)
      slots.push([hex(r, 32), r() < 0.5 ? quantity(r) : hex(r, 1 + Math.floor(r() * 31))]);
    const hasCode = r() < 0.3;
    out.push([
      hex(r, 20),
      quantity(r),
      `0x${Math.floor(r() * 50).toString(16)}`,
      hasCode ? hex(r, 32) : bytesToHex(keccak_256(new Uint8Array())),
      null,
      slots,
    ]);
  }
  return out;
}

/** The reference: `@ethereumjs/mpt` with key hashing, one put per key. */
async function reference(entries: SnapshotAccount[]): Promise<string> {
  const trie = new MerklePatriciaTrie({ useKeyHashing: true });
  for (const [address, balance, nonce, codeHash, , slots] of entries) {
    const storage = new MerklePatriciaTrie({ useKeyHashing: true });
    for (const [slot, v] of slots) {
      const value = unpadBytes(hexToBytes(even(v)));
      if (value.length) await storage.put(hexToBytes(slot as `0x${string}`), RLP.encode(value));
    }
    const a = new Account(
      BigInt(nonce),
      BigInt(balance),
      storage.root(),
      hexToBytes(codeHash as `0x${string}`),
    );
    await trie.put(hexToBytes(address as `0x${string}`), a.serialize());
  }
  return bytesToHex(trie.root());
}

function even(q: string): `0x${string}` {
  const h = q.slice(2);
  return `0x${h.length % 2 ? `0${h}` : h}`;
}

test("SortedTrie: the empty trie and one leaf match @ethereumjs/mpt", async () => {
  assert.equal(bytesToHex(new SortedTrie().root()), EMPTY_TRIE_ROOT);
  const key = keccak_256(new Uint8Array([1]));
  const t = new SortedTrie();
  t.add(key, new Uint8Array([5]));
  const ref = new MerklePatriciaTrie();
  await ref.put(key, new Uint8Array([5]));
  assert.equal(bytesToHex(t.root()), bytesToHex(ref.root()));
});

test("SortedTrie refuses keys out of order", () => {
  const t = new SortedTrie();
  t.add(new Uint8Array(32).fill(2), new Uint8Array([1]));
  assert.throws(() => t.add(new Uint8Array(32).fill(1), new Uint8Array([1])), /strictly increasing/);
  assert.throws(() => t.add(new Uint8Array(32).fill(2), new Uint8Array([1])), /strictly increasing/);
});

test("SortedTrie equals @ethereumjs/mpt on random sorted keys, with short values that inline nodes", async () => {
  for (const [seed, n] of [
    [1, 2],
    [2, 3],
    [3, 17],
    [4, 300],
    [5, 2000],
  ] as const) {
    const r = rng(seed);
    const keys = new Map<string, Uint8Array>();
    // Half the keys share a 30-byte stem, so extensions and deep branches occur.
    const stem = hex(r, 30);
    for (let i = 0; i < n; i++) {
      const k = r() < 0.5 ? `${stem}${hex(r, 2).slice(2)}` : hex(r, 32);
      keys.set(k, new Uint8Array([Math.floor(r() * 256)]));
    }
    const sorted = [...keys].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const t = new SortedTrie();
    const ref = new MerklePatriciaTrie();
    for (const [k, v] of sorted) {
      t.add(hexToBytes(k as `0x${string}`), v);
      await ref.put(hexToBytes(k as `0x${string}`), v);
    }
    assert.equal(bytesToHex(t.root()), bytesToHex(ref.root()), `seed ${seed}, ${n} keys`);
  }
});

test("stateRootOf equals @ethereumjs/mpt's state root, chunks in any order, empty-balance entries skipped", async () => {
  const entries = accounts(7, 400, 12);
  const expected = await reference(entries);
  const shuffled = [...entries].reverse();
  const chunks = [shuffled.slice(0, 150), shuffled.slice(150, 151), shuffled.slice(151)];
  // A "no account" entry (empty balance) with storage changes nothing.
  chunks.push([["0x00000000000000000000000000000000000000aa", "", "", "", null, [["0x01", "0x02"]]]]);
  assert.equal(await stateRootOf(chunks), expected);
  assert.equal(await stateRootOf([]), EMPTY_TRIE_ROOT);
  // One changed balance changes the root.
  const changed = entries.map((e, i) =>
    i === 10 ? ([e[0], `${e[1]}1`, e[2], e[3], e[4], e[5]] as SnapshotAccount) : e,
  );
  assert.notEqual(await stateRootOf([changed]), expected);
});
