/**
 * The state root of a full state (the Yellow Paper's Merkle-Patricia trie of accounts keyed by
 * keccak(address), each with the root of its storage trie keyed by keccak(slot)), computed with
 * bounded memory: entries are spilled to a temporary LMDB keyed by their hashed keys, which
 * returns them in trie order, and each trie is built from sorted leaves by {@link SortedTrie},
 * which holds one path of open branch nodes (at most 64) at a time. Nodes are the ones of
 * `@ethereumjs/mpt` (their encoding, hex-prefix keys and inlining of nodes under 32 bytes).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BranchMPTNode,
  ExtensionMPTNode,
  LeafMPTNode,
  type NodeReferenceOrRawMPTNode,
} from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import { Account, bytesToHex, hexToBytes, KECCAK256_RLP, unpadBytes } from "@ethereumjs/util";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { createKeccak } from "hash-wasm";
import { type Database, open, type RootDatabase } from "lmdb";
import type { SnapshotAccount } from "../format/index.ts";
import { CommonError } from "../util/errors.ts";
import type { Hex } from "../util/hex.ts";

/** The root of an empty trie: keccak256(rlp("")). */
export const EMPTY_TRIE_ROOT: Hex = bytesToHex(KECCAK256_RLP) as Hex;

type Nibbles = number[];
type NodeRef = NodeReferenceOrRawMPTNode;
type TrieNode = BranchMPTNode | ExtensionMPTNode | LeafMPTNode;

function toNibbles(key: Uint8Array): Nibbles {
  const out = new Array<number>(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    const b = key[i] as number;
    out[2 * i] = b >> 4;
    out[2 * i + 1] = b & 15;
  }
  return out;
}

/** keccak256 of bytes. */
export type Keccak = (data: Uint8Array) => Uint8Array;

/**
 * A keccak256 from `hash-wasm` (WebAssembly): about 8 times as fast as `@noble/hashes` on the
 * 32- to 110-byte inputs a trie hashes (0.8 µs against 7 µs per hash here). One instance, used
 * synchronously; not shared across awaits.
 */
export async function wasmKeccak(): Promise<Keccak> {
  const k = await createKeccak(256);
  return (data) => {
    k.init();
    k.update(data);
    return k.digest("binary");
  };
}

/**
 * A trie built from leaves added in strictly increasing key order, all keys of one length (so no
 * key is a prefix of another and no branch holds a value). A leaf's parent branch sits where its
 * key parts from the nearer of its neighbours; once the next key is known, every branch deeper
 * than where they part is complete and is folded into its parent.
 */
export class SortedTrie {
  /** `hash`: keccak256 (default `@noble/hashes`; {@link wasmKeccak} is faster). */
  constructor(private readonly hash: Keccak = keccak_256) {}

  /** How a parent refers to a node: the node itself when its encoding is under 32 bytes, else its hash. */
  private refOf(node: TrieNode): NodeRef {
    const encoded = node.serialize();
    // A node under 32 bytes is embedded as its raw list (as `@ethereumjs/mpt` embeds it).
    return encoded.length < 32 ? (node.raw() as NodeRef) : this.hash(encoded);
  }

  private readonly stack: { depth: number; node: BranchMPTNode }[] = [];
  private prev: { key: Nibbles; value: Uint8Array } | undefined;
  private prevParted = -1;
  private rootHash: Uint8Array | undefined;
  /** Leaves added so far. */
  count = 0;

  add(key: Uint8Array, value: Uint8Array): void {
    if (this.rootHash) throw new CommonError("INTERNAL", "trie already finished");
    const k = toNibbles(key);
    const prev = this.prev;
    if (prev) {
      let c = 0;
      while (c < k.length && prev.key[c] === k[c]) c++;
      if (k.length !== prev.key.length || c === k.length || (prev.key[c] as number) > (k[c] as number)) {
        throw new CommonError("INTERNAL", "trie keys must be of one length and strictly increasing");
      }
      this.place(c);
      this.prevParted = c;
    }
    this.prev = { key: k, value };
    this.count++;
  }

  /** Adds the last leaf and returns the root hash. */
  root(): Uint8Array {
    if (this.rootHash) return this.rootHash;
    if (!this.prev) this.rootHash = KECCAK256_RLP;
    else this.place(-1);
    return this.rootHash as Uint8Array;
  }

  /** Places the previous leaf, then folds every branch deeper than `parted` (−1: the last leaf). */
  private place(parted: number): void {
    const { key, value } = this.prev as { key: Nibbles; value: Uint8Array };
    const depth = Math.max(this.prevParted, parted);
    if (depth < 0) {
      this.rootHash = this.hash(new LeafMPTNode(key, value).serialize());
      return;
    }
    const top = this.stack[this.stack.length - 1];
    if (!top || top.depth < depth) this.stack.push({ depth, node: new BranchMPTNode() });
    const parent = this.stack[this.stack.length - 1] as { depth: number; node: BranchMPTNode };
    parent.node.setBranch(key[depth] as number, this.refOf(new LeafMPTNode(key.slice(depth + 1), value)));
    for (;;) {
      const f = this.stack[this.stack.length - 1];
      if (!f || f.depth <= parted) return;
      this.stack.pop();
      let below = this.stack[this.stack.length - 1];
      if (!below || below.depth < parted) {
        if (parted < 0) {
          const node =
            f.depth > 0
              ? new ExtensionMPTNode(key.slice(0, f.depth), this.refOf(f.node) as Uint8Array)
              : f.node;
          this.rootHash = this.hash(node.serialize());
          return;
        }
        below = { depth: parted, node: new BranchMPTNode() };
        this.stack.push(below);
      }
      let child = this.refOf(f.node);
      if (f.depth > below.depth + 1) {
        child = this.refOf(new ExtensionMPTNode(key.slice(below.depth + 1, f.depth), child as Uint8Array));
      }
      below.node.setBranch(key[below.depth] as number, child);
    }
  }
}

const FF33 = new Uint8Array(33).fill(0xff);

/**
 * Computes the state root of snapshot accounts fed in any order, in chunks ({@link add}), with
 * bounded memory: each account and slot goes to a temporary LMDB under `dir` (a fresh directory
 * inside it, removed by {@link close}) keyed by its hashed key; {@link root} reads them back in
 * trie order. An entry with an empty balance ("no account", see `SnapshotAccount`) adds nothing.
 */
export class StateRootBuilder {
  private env: RootDatabase | undefined;
  private accts: Database<Uint8Array, Uint8Array> | undefined;
  private slots: Database<Uint8Array, Uint8Array> | undefined;
  private path: string | undefined;
  /** Accounts and slots added. */
  accounts = 0;
  storage = 0;

  private constructor(
    private readonly dir: string,
    private readonly keepZero: boolean,
    private readonly hash: Keccak,
  ) {}

  /**
   * `keepZeroSlots`: slots holding zero are leaves holding `rlp("")` (anvil's trie, see
   * `keepsZeroSlots`) rather than absent (the Yellow Paper).
   */
  static async open(dir?: string, opts: { keepZeroSlots?: boolean } = {}): Promise<StateRootBuilder> {
    const b = new StateRootBuilder(dir ?? tmpdir(), opts.keepZeroSlots ?? false, await wasmKeccak());
    b.path = await mkdtemp(join(b.dir, "state-root-"));
    b.env = open({ path: b.path, noSync: true, maxDbs: 2, compression: false });
    const bin = { keyEncoding: "binary" as const, encoding: "binary" as const };
    b.accts = b.env.openDB({ name: "a", ...bin });
    b.slots = b.env.openDB({ name: "s", ...bin });
    return b;
  }

  /** Adds accounts (and their storage), in one write transaction. */
  add(entries: SnapshotAccount[]): void {
    const accts = this.accts as Database<Uint8Array, Uint8Array>;
    const slots = this.slots as Database<Uint8Array, Uint8Array>;
    (this.env as RootDatabase).transactionSync(() => {
      for (const [address, balance, nonce, codeHash, , storage] of entries) {
        if (balance === "") continue;
        const ha = this.hash(Buffer.from(address.slice(2), "hex"));
        const fields = [unpadBytes(hexToBytes(toEvenHex(nonce))), unpadBytes(hexToBytes(toEvenHex(balance)))];
        accts.putSync(Buffer.from(ha), RLP.encode([...fields, hexToBytes(codeHash as Hex)]));
        this.accounts++;
        for (const [slot, v] of storage) {
          const value = unpadBytes(hexToBytes(toEvenHex(v)));
          if (value.length === 0 && !this.keepZero) continue;
          const key = Buffer.concat([ha, this.hash(Buffer.from(padWord(slot).slice(2), "hex"))]);
          slots.putSync(key, RLP.encode(value));
          this.storage++;
        }
      }
    });
  }

  /** The state root of everything added. */
  root(): Hex {
    const accts = this.accts as Database<Uint8Array, Uint8Array>;
    const slots = this.slots as Database<Uint8Array, Uint8Array>;
    const trie = new SortedTrie(this.hash);
    for (const { key, value } of accts.getRange({})) {
      const storage = new SortedTrie(this.hash);
      const start = Buffer.concat([key, new Uint8Array(32)]);
      const end = Buffer.concat([key, FF33]);
      for (const s of slots.getRange({ start, end })) storage.add(s.key.subarray(32), s.value);
      const [nonce, balance, codeHash] = RLP.decode(value) as Uint8Array[];
      const account = new Account(
        bytesToBig(nonce as Uint8Array),
        bytesToBig(balance as Uint8Array),
        storage.root(),
        codeHash,
      );
      trie.add(key, account.serialize());
    }
    return bytesToHex(trie.root()) as Hex;
  }

  async close(): Promise<void> {
    await this.env?.close();
    this.env = undefined;
    if (this.path) await rm(this.path, { recursive: true, force: true });
  }
}

/** The state root of snapshot accounts (chunks in any order), spilling under `dir`. */
export async function stateRootOf(
  chunks: Iterable<SnapshotAccount[]> | AsyncIterable<SnapshotAccount[]>,
  opts: { dir?: string; keepZeroSlots?: boolean } = {},
): Promise<Hex> {
  const b = await StateRootBuilder.open(opts.dir, opts);
  try {
    for await (const c of chunks) b.add(c);
    return b.root();
  } finally {
    await b.close();
  }
}

function toEvenHex(q: string): Hex {
  const h = q.startsWith("0x") ? q.slice(2) : q;
  return `0x${h.length % 2 ? `0${h}` : h}` as Hex;
}

function padWord(slot: string): Hex {
  return `0x${slot.slice(2).padStart(64, "0")}` as Hex;
}

function bytesToBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(bytesToHex(b));
}
