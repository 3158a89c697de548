import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ChainDb, type Replicator } from "../../../src/reader/index.ts";
import type { ChainStore } from "../../../src/store/index.ts";
import { Syncer } from "../../../src/sync/index.ts";
import { silentLogger } from "../../../src/util/logger.ts";

/** A replicator that applies nothing and follows `chain`: the syncer only reads the store's tip. */
function idleReplicator(chain: ChainStore): Replicator {
  return {
    line: chain,
    on: () => {},
    start: async () => {},
    stop: async () => {},
    status: () => ({ storeHeight: -1, lastError: undefined }),
  } as unknown as Replicator;
}

describe("Syncer: LIVE and falling behind", () => {
  let dir: string;
  let db: ChainDb;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-syncer-"));
    db = new ChainDb({ path: dir, chainId: 1 });
  });
  after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("goes back to HEAD when more than fallBehind blocks behind the store, and LIVE again when caught up", async () => {
    // A LIVE reader (position recorded) with nothing applied yet: its height counts as -1.
    db.setSyncInfo({ stage: "LIVE", startingBlock: 0, currentBlock: 0, highestBlock: 0, detail: "" });
    let storeTip = 0;
    const chain = {
      hasHead: async (h: number) => h >= 0 && h <= storeTip,
      // One record per height, written in height order.
      listHeads: async (from: number) =>
        Array.from({ length: Math.max(0, storeTip - from + 1) }, (_, i) => ({
          height: from + i,
          writeTs: from + i,
        })),
    } as unknown as ChainStore;
    const replicator = idleReplicator(chain);
    const syncer = new Syncer(
      { liveLag: 2, fallBehind: 10 },
      { chain, db, replicator, logger: silentLogger() },
    );
    const stages: string[] = [];
    syncer.on("stage", (s) => stages.push(s));
    syncer.start();
    try {
      assert.equal(syncer.current(), "LIVE");
      storeTip = 50;
      const until = Date.now() + 5000;
      while (syncer.current() !== "HEAD" && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.equal(syncer.current(), "HEAD", "fell behind");
      assert.equal(db.syncInfo()?.stage, "HEAD", "recorded for the RPC processes");
      assert.equal(db.syncInfo()?.highestBlock, 50);
      storeTip = 0;
      await syncer.waitLive(5000);
      assert.deepEqual(stages, ["HEAD", "LIVE"]);
    } finally {
      await syncer.stop();
    }
  });

  it("takes the newest head record as the writer's tip: records above it are an old branch", async () => {
    const dir2 = await mkdtemp(join(tmpdir(), "ck-syncer-"));
    const db2 = new ChainDb({ path: dir2, chainId: 1 });
    db2.setSyncInfo({ stage: "LIVE", startingBlock: 0, currentBlock: 0, highestBlock: 0, detail: "" });
    // Heights 0…40 were written, then a reorg to a shorter chain re-marked height 0 as the tip
    // (a newer record); the records of 1…40 stay in the store.
    const refs = [
      ...Array.from({ length: 41 }, (_, h) => ({ height: h, writeTs: 100 + h })),
      { height: 0, writeTs: 1000 },
    ];
    const chain = {
      hasHead: async (h: number) => h >= 0 && h <= 40,
      listHeads: async (from: number) => refs.filter((r) => r.height >= from),
    } as unknown as ChainStore;
    const replicator = idleReplicator(chain);
    const syncer = new Syncer(
      { liveLag: 2, fallBehind: 10 },
      { chain, db: db2, replicator, logger: silentLogger() },
    );
    syncer.start();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(syncer.current(), "LIVE", "40 stale records are not 40 blocks behind");
    } finally {
      await syncer.stop();
      await db2.close();
      await rm(dir2, { recursive: true, force: true });
    }
  });
});
