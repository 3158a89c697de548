import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { MemoryBus } from "../../src/bus/index.ts";
import { ChainStore, FsStore } from "../../src/store/index.ts";
import { HttpUpstream } from "../../src/upstream/index.ts";
import { systemClock } from "../../src/util/clock.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { Writer } from "../../src/writer/index.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { rpcBatch, waitFor } from "../helpers/net.ts";

const logger = silentLogger();
const ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

/** Canonical (latest writeTs) hash per height in the store. */
async function storeCanonical(chain: ChainStore): Promise<Map<number, string>> {
  const m = new Map<number, string>();
  for (const r of await chain.listHeads(0, 100_000)) m.set(r.height, r.hash);
  return m;
}

async function upstreamHashes(anvil: AnvilInstance, top: number): Promise<string[]> {
  const res = await rpcBatch(
    anvil.url,
    Array.from({ length: top + 1 }, (_, h) => ({
      method: "eth_getBlockByNumber",
      params: [`0x${h.toString(16)}`, false],
    })),
  );
  return res.map((r) => (r.result as { hash: string }).hash);
}

/** A replacement transaction for anvil_reorg: [tx, block offset from the reorg base]. */
function transfer(nonceHint: number): unknown {
  return { from: ALICE, to: BOB, value: `0x${(1000 + nonceHint).toString(16)}` };
}

describe("writer: reorgs on the upstream", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: Writer;
  let chain: ChainStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-wreorg-"));
    anvil = await startAnvil();
    // One transaction a block: each is mined (its receipt served) before the next is sent, so
    // that a loaded machine does not put two in one block; the tests build on height 12.
    for (let i = 0; i < 12; i++) {
      const sent = await anvil.rpc("eth_sendTransaction", [transfer(i)]);
      assert.equal(sent.error, undefined, JSON.stringify(sent.error));
      await waitFor(async () => (await anvil.rpc("eth_getTransactionReceipt", [sent.result])).result, {
        what: `receipt of transfer ${i}`,
      });
    }
    assert.equal(Number((await anvil.rpc("eth_blockNumber")).result), 12);
    chain = new ChainStore(new FsStore({ dir }), "primary", anvil.chainId);
  });

  afterEach(async () => {
    await writer?.stop();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (reorgMax: number) => {
    writer = new Writer(
      { crossCheck: "always", pollInterval: 50, reorgMax },
      {
        upstream: new HttpUpstream({ url: anvil.url }, { logger }),
        chain,
        bus: new MemoryBus(),
        clock: systemClock,
        logger,
      },
    );
    await writer.start();
    await waitFor(async () => writer.status().height === 12, {
      timeoutMs: 60_000,
      what: "writer at 12",
    }).catch((err: Error) => {
      // Say where the writer stands (its last error) rather than only that it did not get there.
      throw new Error(`${err.message}: ${JSON.stringify(writer.status())}`, { cause: err });
    });
  };

  for (const depth of [1, 3, 5]) {
    test(`follows a reorg of depth ${depth} with new transactions, rewriting each height`, async () => {
      await start(64);
      await anvil.rpc("anvil_reorg", [
        depth,
        [
          [transfer(100), 0],
          [transfer(101), depth - 1],
        ],
      ]);
      const want = await upstreamHashes(anvil, 12);
      await waitFor(
        async () => {
          const have = await storeCanonical(chain);
          return want.every((h, i) => have.get(i) === h);
        },
        { timeoutMs: 60_000, what: "store canonical = upstream" },
      );
      const s = writer.status();
      assert.equal(s.reorgs, 1);
      assert.equal(s.halted, undefined);
      // Every replaced height has two head records; the newer one is canonical.
      const heads = await chain.listHeads(0, 100_000);
      assert.equal(heads.length, 13 + depth);
    });
  }

  test("a reorg to a shorter chain: the ancestor is marked as the tip, and a restart resumes from it", async () => {
    await start(64);
    await anvil.rpc("anvil_rollback", [3]);
    // The newest head record is the new head (block 9, written again), above it the old branch.
    await waitFor(
      async () => {
        const refs = await chain.listHeads(0, 100_000);
        const newest = refs.reduce((a, b) => (b.writeTs > a.writeTs ? b : a));
        return newest.height === 9;
      },
      { timeoutMs: 60_000, what: "tip mark at 9" },
    );
    const old = await storeCanonical(chain);
    assert.equal(old.has(12), true, "the old branch's records stay");
    await writer.stop();
    await anvil.rpc("evm_mine", []);
    writer = new Writer(
      { crossCheck: "always", pollInterval: 50, reorgMax: 64 },
      {
        upstream: new HttpUpstream({ url: anvil.url }, { logger }),
        chain,
        bus: new MemoryBus(),
        clock: systemClock,
        logger,
      },
    );
    await writer.start();
    const want = await upstreamHashes(anvil, 10);
    await waitFor(
      async () => {
        const have = await storeCanonical(chain);
        return want.every((h, i) => have.get(i) === h);
      },
      { timeoutMs: 60_000, what: "the restarted writer commits 10 on the new chain" },
    );
    assert.equal(writer.status().height, 10);
  });

  test("a reorg deeper than reorgMax halts the writer until an operator resumes it", async () => {
    await start(4);
    const old = await upstreamHashes(anvil, 12);
    await anvil.rpc("anvil_reorg", [6, [[transfer(200), 0]]]);
    await waitFor(async () => writer.status().halted, { timeoutMs: 60_000, what: "halt" });
    const halted = writer.status().halted;
    assert.ok(halted);
    assert.equal(halted.height, 7);
    assert.equal(halted.committedHash, old[7]);
    assert.equal(halted.upstreamHash, (await upstreamHashes(anvil, 12))[7]);
    assert.equal(halted.depth, 6);
    // More blocks arrive; nothing is committed while halted.
    await anvil.rpc("evm_mine", []);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await storeCanonical(chain)).get(7), old[7]);
    assert.equal((await storeCanonical(chain)).has(13), false);
    assert.equal(writer.resume(), true);
    const want = await upstreamHashes(anvil, 13);
    await waitFor(
      async () => {
        const have = await storeCanonical(chain);
        return want.every((h, i) => have.get(i) === h);
      },
      { timeoutMs: 60_000, what: "store follows after resume" },
    );
    assert.equal(writer.status().halted, undefined);
  });
});
