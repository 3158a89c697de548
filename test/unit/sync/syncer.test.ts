import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SegmentRanges, StoreCheckpoints } from "../../../src/archive/index.ts";
import { MemoryBus } from "../../../src/bus/index.ts";
import { headKey } from "../../../src/format/index.ts";
import { ChainDb, Replicator } from "../../../src/reader/index.ts";
import { ChainStore, FsStore } from "../../../src/store/index.ts";
import { type HeadFollower, Syncer } from "../../../src/sync/index.ts";
import { silentLogger } from "../../../src/util/logger.ts";

const hashAt = (h: number, branch = 0) => `0x${(branch * 1000 + h).toString(16).padStart(64, "0")}`;

describe("Syncer: LIVE and falling behind", () => {
  let dir: string;
  let db: ChainDb;
  let chain: ChainStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-syncer-"));
    db = new ChainDb({ path: join(dir, "db"), chainId: 1 });
    chain = new ChainStore(new FsStore({ dir: join(dir, "store") }), "primary", 1);
  });
  after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("goes back to HEAD when more than fallBehind blocks behind the store, and LIVE again when caught up", async () => {
    // A LIVE reader (position recorded) with nothing applied yet: its height counts as -1.
    db.setSyncInfo({ stage: "LIVE", startingBlock: 0, currentBlock: 0, highestBlock: 0, detail: "" });
    let storeTip = 0;
    // A follower that applies nothing; the writer's tip is `storeTip`.
    const follower: HeadFollower = {
      start: async () => {},
      stop: async () => {},
      status: () => ({ storeHeight: -1, bytesApplied: 0 }),
      writerTip: async (known) => (storeTip >= Math.max(known, 0) ? storeTip : known),
    };
    const syncer = new Syncer(
      { liveLag: 2, fallBehind: 10 },
      {
        db,
        follower,
        checkpoint: new StoreCheckpoints(chain),
        backfill: new SegmentRanges(chain),
        prefix: "primary",
        logger: silentLogger(),
      },
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
    const db2 = new ChainDb({ path: join(dir2, "db"), chainId: 1 });
    db2.setSyncInfo({ stage: "LIVE", startingBlock: 0, currentBlock: 0, highestBlock: 0, detail: "" });
    // Heights 0…40 were written, then a reorg to a shorter chain re-marked height 0 as the tip
    // (a newer record); the records of 1…40 stay in the store.
    const store = new FsStore({ dir: join(dir2, "store") });
    const line = new ChainStore(store, "primary", 1);
    for (let h = 0; h <= 40; h++)
      await store.put(headKey(line.root, h, 100 + h, hashAt(h)), Buffer.from("{}"));
    await store.put(headKey(line.root, 0, 1000, hashAt(0)), Buffer.from("{}"));
    assert.equal(await line.writerTip(0, 64), 0, "the store's tip rule");
    assert.equal(
      await line.writerTip(0, 8),
      40,
      "a re-marked record further down than the window is not seen",
    );
    // The reader's own follower (its replicator, which finds no chain descriptor to apply from).
    const follower = new Replicator(
      { pollInterval: 100 },
      { chain: line, db: db2, bus: new MemoryBus(), logger: silentLogger() },
    );
    const syncer = new Syncer(
      { liveLag: 2, fallBehind: 10 },
      {
        db: db2,
        follower,
        checkpoint: new StoreCheckpoints(line),
        backfill: new SegmentRanges(line),
        prefix: "primary",
        logger: silentLogger(),
      },
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
