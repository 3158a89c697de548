import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { open } from "lmdb";
import type { AccountState, Bundle, HeadRecord, RpcLog, StateDump } from "../../../src/format/types.ts";
import { ChainDb } from "../../../src/reader/index.ts";
import type { Hex } from "../../../src/util/hex.ts";

const CHAIN_ID = 31337;
const ZERO: Hex = `0x${"0".repeat(64)}`;
const EMPTY_CODE_HASH: Hex = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";

const word = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
const addr = (n: number): Hex => `0x${n.toString(16).padStart(40, "0")}`;
const hashOf = (h: number): Hex => `0x${(h + 1).toString(16).padStart(64, "a")}`;
const acct = (balance: number, nonce: number): AccountState => ({
  balance: `0x${balance.toString(16)}`,
  nonce: `0x${nonce.toString(16)}`,
  codeHash: EMPTY_CODE_HASH,
});

/** A deterministic pseudo-random sequence (tests must not depend on Math.random). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/** What a chain of blocks wrote, per height: the expected answer at every height. */
interface Model {
  /** Per height, the state after that block. */
  accounts: Map<Hex, AccountState | null>[];
  slots: Map<string, Hex>[];
  /** The blocks applied, by height (to apply them again). */
  blocks: { bundle: Bundle; rec: HeadRecord }[];
}

function block(
  height: number,
  diff: Bundle["diff"],
  logs: RpcLog[] = [],
): { bundle: Bundle; rec: HeadRecord } {
  const hash = hashOf(height);
  const bundle: Bundle = {
    version: 1,
    chainId: CHAIN_ID,
    block: {
      number: `0x${height.toString(16)}`,
      hash,
      parentHash: height === 0 ? ZERO : hashOf(height - 1),
      timestamp: `0x${(1_700_000_000 + height).toString(16)}`,
      transactions: [],
      logsBloom: `0x${"0".repeat(512)}`,
    },
    receipts: logs.length > 0 ? [{ transactionHash: hashOf(1000 + height), logs }] : [],
    diff,
  };
  const rec: HeadRecord = {
    version: 1,
    chainId: CHAIN_ID,
    height,
    hash,
    parentHash: bundle.block.parentHash,
    writeTs: 1000 + height,
    bundleKey: `blocks/${height}`,
    size: 0,
    sha256: "",
    safe: height,
    finalized: height,
  };
  return { bundle, rec };
}

/**
 * Initialises `db` (with or without an initial state at height 0) and applies `blocks` blocks
 * that change random accounts among 8 and random slots among 4 × 8, some to zero or to absent.
 */
function buildChain(db: ChainDb, blocks: number, withState: boolean, seed: number): Model {
  const rand = rng(seed);
  const accounts = new Map<Hex, AccountState | null>();
  const slots = new Map<string, Hex>();
  let dump: StateDump | null = null;
  if (withState) {
    dump = { height: 0, blockHash: hashOf(0), accounts: {} };
    for (let i = 0; i < 4; i++) {
      dump.accounts[addr(i)] = {
        balance: `0x${(100 + i).toString(16)}`,
        nonce: "0x0",
        code: "0x",
        storage: {},
      };
      accounts.set(addr(i), acct(100 + i, 0));
    }
    (dump.accounts[addr(0)] as { storage: Record<Hex, Hex> }).storage[word(1)] = word(7);
    slots.set(`${addr(0)}:${word(1)}`, word(7));
  }
  db.initialise(
    { chainId: CHAIN_ID, earliest: 0, hasInitialState: withState, genesisHash: hashOf(0), prefix: "primary" },
    dump,
  );
  const model: Model = { accounts: [], slots: [], blocks: [] };
  for (let h = 0; h < blocks; h++) {
    const diff: Bundle["diff"] = { accounts: {}, storage: {}, codes: {} };
    if (h > 0) {
      for (let k = 0; k < 3; k++) {
        const a = addr(Math.floor(rand() * 8));
        if (diff.accounts[a]) continue;
        const pre = accounts.get(a) ?? null;
        const post = rand() < 0.15 ? null : acct(Math.floor(rand() * 1000), h);
        diff.accounts[a] = { pre, post };
        accounts.set(a, post);
      }
      for (let k = 0; k < 3; k++) {
        const a = addr(Math.floor(rand() * 4));
        const s = word(Math.floor(rand() * 8));
        const key = `${a}:${s}`;
        if (diff.storage[a]?.[s]) continue;
        const pre = slots.get(key) ?? ZERO;
        const post = rand() < 0.2 ? ZERO : word(1 + Math.floor(rand() * 1000));
        diff.storage[a] ??= {};
        (diff.storage[a] as Record<Hex, [Hex, Hex]>)[s] = [pre, post];
        slots.set(key, post);
      }
    }
    const { bundle, rec } = block(h, diff);
    db.applyBlock(bundle, rec);
    model.blocks.push({ bundle, rec });
    model.accounts.push(new Map(accounts));
    model.slots.push(new Map(slots));
  }
  return model;
}

/** Checks every account and slot at every height against the model. */
function checkAll(db: ChainDb, model: Model, withState: boolean): void {
  for (let h = 0; h < model.accounts.length; h++) {
    const accounts = model.accounts[h] as Map<Hex, AccountState | null>;
    for (let i = 0; i < 9; i++) {
      const a = addr(i);
      const expected = accounts.has(a) ? accounts.get(a) : withState ? null : undefined;
      // A touched account is known even without an initial state: its history row says so.
      const touched = model.accounts.slice(0, h + 1).some((m) => m.has(a));
      assert.deepEqual(
        db.account(a, h),
        touched || withState ? (expected ?? null) : undefined,
        `account ${a} at ${h}`,
      );
    }
    const slots = model.slots[h] as Map<string, Hex>;
    for (let i = 0; i < 4; i++) {
      for (let s = 0; s < 8; s++) {
        const key = `${addr(i)}:${word(s)}`;
        const touched = model.slots.slice(0, h + 1).some((m) => m.has(key));
        const expected = touched ? slots.get(key) : withState ? ZERO : undefined;
        assert.equal(db.storage(addr(i), word(s), h), expected, `slot ${key} at ${h}`);
      }
    }
  }
}

describe("ChainDb state reads (latest tables and history)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-db-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("answers every height exactly, with an initial state, including older heights after newer writes", async () => {
    const db = new ChainDb({ path: join(dir, "with-state"), chainId: CHAIN_ID });
    const model = buildChain(db, 40, true, 1);
    checkAll(db, model, true);
    await db.close();
  });

  it("answers every height exactly without an initial state (untouched state is unknown)", async () => {
    const db = new ChainDb({ path: join(dir, "no-state"), chainId: CHAIN_ID });
    const model = buildChain(db, 40, false, 2);
    checkAll(db, model, false);
    // Never touched: unknown, not absent.
    assert.equal(db.account(addr(99), 39), undefined);
    assert.equal(db.storage(addr(99), word(0), 39), undefined);
    await db.close();
  });

  it("reads a value at the height it was set, the height before, and later heights", async () => {
    const db = new ChainDb({ path: join(dir, "edges"), chainId: CHAIN_ID });
    db.initialise(
      { chainId: CHAIN_ID, earliest: 0, hasInitialState: true, genesisHash: hashOf(0), prefix: "primary" },
      { height: 0, blockHash: hashOf(0), accounts: {} },
    );
    const a = addr(1);
    db.applyBlock(
      block(0, { accounts: {}, storage: {}, codes: {} }).bundle,
      block(0, { accounts: {}, storage: {}, codes: {} }).rec,
    );
    for (let h = 1; h <= 5; h++) {
      const diff: Bundle["diff"] = { accounts: {}, storage: {}, codes: {} };
      if (h === 2) {
        diff.accounts[a] = { pre: null, post: acct(5, 1) };
        diff.storage[a] = { [word(3)]: [ZERO, word(9)] };
      }
      if (h === 4) {
        diff.accounts[a] = { pre: acct(5, 1), post: acct(6, 2) };
        diff.storage[a] = { [word(3)]: [word(9), word(10)] };
      }
      const { bundle, rec } = block(h, diff);
      db.applyBlock(bundle, rec);
    }
    assert.equal(db.account(a, 1), null);
    assert.deepEqual(db.account(a, 2), acct(5, 1));
    assert.deepEqual(db.account(a, 3), acct(5, 1));
    assert.deepEqual(db.account(a, 4), acct(6, 2));
    assert.deepEqual(db.account(a, 5), acct(6, 2));
    assert.equal(db.storage(a, "0x3", 1), ZERO);
    assert.equal(db.storage(a, "0x03", 2), word(9));
    assert.equal(db.storage(a, word(3), 3), word(9));
    assert.equal(db.storage(a, word(3), 4), word(10));
    assert.equal(db.storage(a, word(3), 5), word(10));
    // Mixed-case input reads the same rows.
    assert.deepEqual(db.account(a.toUpperCase().replace("0X", "0x") as Hex, 5), acct(6, 2));
    // Below the earliest held height: unknown.
    assert.equal(db.account(a, -1), undefined);
    await db.close();
  });

  it("a refused block changes neither history nor latest rows", async () => {
    const db = new ChainDb({ path: join(dir, "refused"), chainId: CHAIN_ID });
    const model = buildChain(db, 10, true, 3);
    const a = addr(0);
    const held = db.account(a, 9);
    const bad = block(10, {
      accounts: { [a]: { pre: acct(123456, 99), post: acct(1, 1) } },
      storage: {},
      codes: {},
    });
    assert.throws(() => db.applyBlock(bad.bundle, bad.rec), { code: "BUNDLE_PRE_MISMATCH" });
    assert.deepEqual(db.account(a, 9), held);
    assert.deepEqual(db.account(a, 1000), held);
    checkAll(db, model, true);
    await db.close();
  });

  it("rebuilds the latest tables from the history when they are missing (older databases)", async () => {
    const path = join(dir, "rebuild");
    let db = new ChainDb({ path, chainId: CHAIN_ID });
    const model = buildChain(db, 30, true, 4);
    await db.close();
    // Simulate a database written before the latest tables existed.
    const env = open({ path, maxDbs: 32 });
    const meta = env.openDB({ name: "meta" });
    const acctLast = env.openDB({ name: "acctLast" });
    const storLast = env.openDB({ name: "storLast" });
    env.transactionSync(() => {
      meta.remove("derived");
      for (const k of acctLast.getKeys()) acctLast.remove(k);
      for (const k of storLast.getKeys()) storLast.remove(k);
    });
    await env.close();
    // A read-only open cannot rebuild: it answers from the history rows, still exactly.
    const ro = new ChainDb({ path, chainId: CHAIN_ID, readOnly: true });
    checkAll(ro, model, true);
    await ro.close();
    db = new ChainDb({ path, chainId: CHAIN_ID });
    checkAll(db, model, true);
    await db.close();
  });

  it("keeps each block's logs as ready-to-serve bytes, with match keys and an address index", async () => {
    const db = new ChainDb({ path: join(dir, "logs"), chainId: CHAIN_ID });
    db.initialise(
      { chainId: CHAIN_ID, earliest: 0, hasInitialState: true, genesisHash: hashOf(0), prefix: "primary" },
      null,
    );
    const emitters = [addr(0xaa), addr(0xbb), addr(0xcc)];
    const logsAt = (h: number): RpcLog[] =>
      Array.from({ length: h % 4 }, (_, i) => ({
        address: (i === 0
          ? (emitters[h % 3] as string).toUpperCase().replace("0X", "0x")
          : emitters[(h + i) % 3]) as Hex,
        topics: [word(h), word(i)].map((t) => t.toUpperCase().replace("0X", "0x") as Hex),
        data: "0x" as Hex,
        logIndex: `0x${i.toString(16)}`,
        removed: false,
        note: "ünïcödé",
      }));
    for (let h = 0; h < 12; h++) {
      const { bundle, rec } = block(h, { accounts: {}, storage: {}, codes: {} }, logsAt(h));
      db.applyBlock(bundle, rec);
    }
    for (let h = 0; h < 12; h++) {
      const text = db.blockLogText(h);
      assert.ok(text, `text of ${h}`);
      const logs = db.blockLogs(h);
      assert.equal(Buffer.from(text.json).toString(), JSON.stringify(logs));
      assert.equal(text.starts.length, logs.length);
      text.starts.forEach((start, i) => {
        const end = i + 1 < text.starts.length ? (text.starts[i + 1] as number) - 1 : text.json.length - 1;
        assert.deepEqual(JSON.parse(Buffer.from(text.json.subarray(start, end)).toString()), logs[i]);
      });
      const keys = db.blockLogKeys(h);
      assert.deepEqual(
        keys?.addresses,
        logs.map((l) => l.address.toLowerCase()),
      );
      assert.deepEqual(
        keys?.topics,
        logs.map((l) => l.topics.map((t) => t.toLowerCase())),
      );
    }
    for (const a of emitters) {
      const expected: [number, number[]][] = [];
      for (let h = 2; h <= 9; h++) {
        const idx = logsAt(h).flatMap((l, i) => (l.address.toLowerCase() === a ? [i] : []));
        if (idx.length > 0) expected.push([h, idx]);
      }
      assert.deepEqual([...(db.logsByAddress(a, 2, 9) ?? [])], expected, `index of ${a}`);
    }
    // Never past the applied tip.
    assert.deepEqual(
      [...(db.logsByAddress(emitters[0] as string, 11, 50) ?? [])].map(([h]) => h),
      [11].filter(() => logsAt(11).some((l) => l.address.toLowerCase() === emitters[0])),
    );
    assert.equal(db.blockLogText(12), undefined);
    await db.close();
  });

  it("a read-only handle sees blocks another handle applies", async () => {
    const path = join(dir, "readers");
    const db = new ChainDb({ path, chainId: CHAIN_ID });
    const model = buildChain(db, 5, true, 5);
    const ro = new ChainDb({ path, chainId: CHAIN_ID, readOnly: true });
    assert.equal(ro.tip()?.height, 4);
    const a = addr(2);
    const pre = model.accounts[4]?.get(a) ?? null;
    const { bundle, rec } = block(5, {
      accounts: { [a]: { pre, post: acct(77, 7) } },
      storage: {},
      codes: {},
    });
    db.applyBlock(bundle, rec);
    ro.resetReadTxn();
    assert.equal(ro.tip()?.height, 5);
    assert.deepEqual(ro.account(a, 5), acct(77, 7));
    assert.deepEqual(ro.account(a, 4), pre);
    await ro.close();
    await db.close();
  });
});

describe("ChainDb bounded unwinds (backtrack, writer-line switch)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-db-unwind-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const truncated = (m: Model, top: number): Model => ({
    accounts: m.accounts.slice(0, top + 1),
    slots: m.slots.slice(0, top + 1),
    blocks: m.blocks.slice(0, top + 1),
  });

  it("backtracks in bounded steps to exactly the earlier state, then re-applies the same blocks", async () => {
    const db = new ChainDb({ path: join(dir, "bt"), chainId: CHAIN_ID });
    const model = buildChain(db, 40, true, 11);
    db.startBacktrack(17);
    assert.deepEqual(db.pendingUnwind(), { to: 17, reason: "backtrack" });
    const res = db.continueUnwind(5);
    assert.equal(res?.from, 39);
    assert.equal(db.pendingUnwind(), undefined);
    assert.equal(db.tip()?.height, 17);
    assert.equal(db.tip()?.hash, hashOf(17));
    checkAll(db, truncated(model, 17), true);
    assert.equal(db.block(18), undefined);
    assert.equal(db.heightByHash(hashOf(18)), undefined);
    // Latest reads (one get in acctLast/storLast) are those at 17.
    for (let i = 0; i < 8; i++) {
      assert.deepEqual(db.account(addr(i), 1000), model.accounts[17]?.get(addr(i)) ?? null);
    }
    for (const { bundle, rec } of model.blocks.slice(18)) db.applyBlock(bundle, rec);
    checkAll(db, model, true);
    await db.close();
  });

  it("refuses heights outside the held chain", async () => {
    const db = new ChainDb({ path: join(dir, "range"), chainId: CHAIN_ID });
    buildChain(db, 5, true, 12);
    assert.throws(() => db.startBacktrack(5), { code: "INVALID_ARGUMENT" });
    assert.throws(() => db.startBacktrack(-1), { code: "INVALID_ARGUMENT" });
    await db.close();
  });

  it("a backtrack interrupted between steps is finished by the next open", async () => {
    const path = join(dir, "resume");
    let db = new ChainDb({ path, chainId: CHAIN_ID });
    const model = buildChain(db, 30, true, 13);
    db.startBacktrack(9);
    await db.close();
    db = new ChainDb({ path, chainId: CHAIN_ID });
    assert.equal(db.tip()?.height, 29);
    assert.deepEqual(db.pendingUnwind(), { to: 9, reason: "backtrack" });
    db.continueUnwind(4);
    assert.equal(db.tip()?.height, 9);
    checkAll(db, truncated(model, 9), true);
    await db.close();
  });

  it("a switch records the new prefix and the reset height with its hash, and unwinds to it", async () => {
    const db = new ChainDb({ path: join(dir, "switch"), chainId: CHAIN_ID });
    const model = buildChain(db, 40, false, 14);
    // The chain's reorg window, as the database records it: the reset is 2·8 below the tip.
    db.recordReorgMax(8);
    assert.equal(db.startSwitch("primary"), undefined, "already followed");
    const sw = db.startSwitch("standby");
    assert.deepEqual(sw, { prefix: "standby", previous: "primary", height: 23, hash: hashOf(23) });
    assert.deepEqual(db.pendingSwitch(), sw);
    assert.equal(db.chainInfo()?.prefix, "standby");
    db.continueUnwind();
    assert.equal(db.tip()?.height, 23);
    checkAll(db, truncated(model, 23), false);
    db.finishSwitch();
    assert.equal(db.pendingSwitch(), undefined);
    await db.close();
  });
});
