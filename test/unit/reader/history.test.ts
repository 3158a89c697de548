/**
 * History mode `full` in ChainDb: state at every height from `stateFrom()` to the tip equals a
 * model of the chain, through backfill compaction, per-block pruning and a reorg.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { AccountState, Bundle, HeadRecord } from "../../../src/format/types.ts";
import { ChainDb } from "../../../src/reader/index.ts";
import type { Hex } from "../../../src/util/hex.ts";

const CHAIN_ID = 31337;
const ZERO: Hex = `0x${"0".repeat(64)}`;
const EMPTY: Hex = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
const addr = (n: number): Hex => `0x${n.toString(16).padStart(40, "0")}`;
const word = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
const hashOf = (h: number, branch: number): Hex =>
  `0x${branch.toString(16)}${(h + 1).toString(16).padStart(63, "a")}`;

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

type State = { accounts: Map<Hex, AccountState>; slots: Map<string, Hex> };

/** Blocks from `from` on, each writing random accounts (of 10) and slots (of 10 × 3). */
function makeBlocks(
  state: State,
  from: number,
  count: number,
  branch: number,
  parentHash: Hex,
  seed: number,
) {
  const r = rng(seed);
  const out: { bundle: Bundle; rec: HeadRecord; after: State }[] = [];
  let parent = parentHash;
  for (let h = from; h < from + count; h++) {
    const diff: Bundle["diff"] = { accounts: {}, storage: {}, codes: {} };
    const base = Math.floor(r() * 10);
    for (let i = 0; i < 3; i++) {
      const a = addr(1 + ((base + i * 3) % 10));
      const pre = state.accounts.get(a) ?? null;
      const post = {
        balance: `0x${Math.floor(r() * 1e6).toString(16)}` as Hex,
        nonce: `0x${h.toString(16)}` as Hex,
        codeHash: EMPTY,
      };
      diff.accounts[a] = { pre, post };
      state.accounts.set(a, post);
      const slot = word(Math.floor(r() * 3));
      const preV = state.slots.get(`${a} ${slot}`) ?? ZERO;
      const postV = word(Math.floor(r() * 1000));
      diff.storage[a] = { ...(diff.storage[a] ?? {}), [slot]: [preV, postV] };
      state.slots.set(`${a} ${slot}`, postV);
    }
    const hash = hashOf(h, branch);
    const bundle: Bundle = {
      version: 1,
      chainId: CHAIN_ID,
      block: {
        number: `0x${h.toString(16)}`,
        hash,
        parentHash: parent,
        timestamp: "0x1",
        transactions: [],
        logsBloom: `0x${"0".repeat(512)}`,
      },
      receipts: [],
      diff,
    };
    const rec: HeadRecord = {
      version: 1,
      chainId: CHAIN_ID,
      height: h,
      hash,
      parentHash: parent,
      writeTs: h,
      bundleKey: "",
      size: 0,
      sha256: "",
      safe: h,
      finalized: h,
    };
    out.push({ bundle, rec, after: { accounts: new Map(state.accounts), slots: new Map(state.slots) } });
    parent = hash;
  }
  return out;
}

describe("ChainDb history mode full", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("answers every height from stateFrom() as the model, through compaction, pruning and a reorg", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ck-history-"));
    dirs.push(dir);
    const db = new ChainDb({ path: dir, chainId: CHAIN_ID });
    db.setHistoryMode({ mode: "full", blocks: 16 });
    db.initialise(
      { chainId: CHAIN_ID, earliest: 0, hasInitialState: true, genesisHash: hashOf(0, 1), prefix: "p" },
      {
        height: 0,
        blockHash: hashOf(0, 1),
        accounts: {},
      },
    );
    const state: State = { accounts: new Map(), slots: new Map() };
    const genesis = makeBlocks(state, 0, 1, 1, ZERO, 1);
    const blocks = [...genesis, ...makeBlocks(state, 1, 150, 1, hashOf(0, 1), 7)];
    const model = new Map<number, State>(blocks.map((b) => [b.rec.height, b.after]));
    // Backfill to 100 in batches (compacting below 100 − 16), then block by block.
    for (let i = 0; i <= 100; i += 25)
      db.applyBlocks(blocks.slice(i, Math.min(i + 25, 101)), { compactBelow: 100 - 16 });
    for (const b of blocks.slice(101)) db.applyBlock(b.bundle, b.rec);
    const check = () => {
      const tip = db.tip()?.height as number;
      const from = db.stateFrom();
      assert.ok(from >= tip - 16 && from <= tip, `stateFrom ${from}, tip ${tip}`);
      for (let h = from; h <= tip; h++) {
        const m = model.get(h) as State;
        for (let a = 1; a <= 10; a++) {
          const want = m.accounts.get(addr(a)) ?? null;
          assert.deepEqual(db.account(addr(a), h), want, `account ${a} at ${h}`);
          for (let s = 0; s < 3; s++) {
            assert.equal(
              db.storage(addr(a), word(s), h),
              m.slots.get(`${addr(a)} ${word(s)}`) ?? ZERO,
              `slot ${a}/${s} at ${h}`,
            );
          }
        }
      }
      return { tip, from };
    };
    const before = check();
    assert.equal(before.from, 150 - 16);
    // A reorg of 5 blocks: the tip goes down, stateFrom does not (what was pruned stays pruned).
    const forkState: State = {
      accounts: new Map(model.get(145)?.accounts),
      slots: new Map(model.get(145)?.slots),
    };
    const branch = makeBlocks(forkState, 146, 3, 2, hashOf(145, 1), 99);
    for (const b of branch) model.set(b.rec.height, b.after);
    db.reorg(
      145,
      branch.map(({ bundle, rec }) => ({ bundle, rec })),
    );
    const afterReorg = check();
    assert.equal(afterReorg.tip, 148);
    assert.equal(afterReorg.from, before.from, "never below the pruned height");
    await db.close();
  });
});
