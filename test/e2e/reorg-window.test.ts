/**
 * A chain whose writer runs with `--reorg-max 16`: every reader database records the chain's
 * window, whichever stage created it (CHECKPOINT from a snapshot, or the chain's start), and each
 * window derived from it uses 16, not a default: the switch reset (applied − 2·16, on a running
 * reader and offline) and the writer's tip that the staged sync asks the replicator for.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createSnapshot } from "../../src/archive/index.ts";
import { MemoryBus } from "../../src/bus/index.ts";
import { DEFAULT_REORG_MAX } from "../../src/format/index.ts";
import {
  type RunningReader,
  type RunningWriter,
  startReader,
  startWriter,
  switchOffline,
} from "../../src/node/index.ts";
import { ChainDb, Replicator } from "../../src/reader/index.ts";
import { ChainStore, FsStore } from "../../src/store/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { waitFor } from "../helpers/net.ts";

const logger = silentLogger();
const REORG_MAX = 16;
const ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

describe("a chain with --reorg-max 16: every database records it, every window uses it", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: RunningWriter;
  let chain: ChainStore;
  let snapshotHeight: number;
  const readers: RunningReader[] = [];

  before(async () => {
    assert.notEqual(REORG_MAX, DEFAULT_REORG_MAX, "the test's window differs from the default");
    anvil = await startAnvil();
    for (let i = 0; i < 60; i++) {
      await anvil.rpc("eth_sendTransaction", [
        { from: ALICE, to: BOB, value: `0x${(1000 + i).toString(16)}` },
      ]);
    }
    dir = await mkdtemp(join(tmpdir(), "ck-window-"));
    writer = await startWriter(
      {
        upstream: [anvil.url],
        store: join(dir, "store"),
        reorgMax: REORG_MAX,
        crossCheck: "off",
        pollInterval: 50,
      },
      { logger },
    );
    await waitFor(async () => writer.writer.status().height === 60, {
      timeoutMs: 60_000,
      what: "writer at 60",
    });
    chain = new ChainStore(new FsStore({ dir: join(dir, "store") }), "primary", anvil.chainId);
    // Finalized: at most the tip − 16. Taken low enough that applied − 2·16 is above it.
    await assert.rejects(createSnapshot(chain, { height: 60 - REORG_MAX + 1 }, { logger }), {
      code: "CONFIG_INVALID",
    });
    snapshotHeight = (await createSnapshot(chain, { height: 20 }, { logger })).height;
    assert.equal(snapshotHeight, 20);
  });

  after(async () => {
    for (const r of readers) await r.close();
    await writer?.close();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const reader = async (name: string, snapshots: boolean) => {
    const r = await startReader(
      {
        store: join(dir, "store"),
        dataDir: join(dir, name),
        rpcPort: 0,
        workers: 1,
        pollInterval: 50,
        snapshots,
        history: "archive",
      },
      { logger, bus: new MemoryBus() },
    );
    readers.push(r);
    await r.syncer.waitLive(60_000);
    await r.replicator.waitFor(60, 60_000);
    return r;
  };

  test("a database created through CHECKPOINT, and one from the chain's start, record the chain's window", async () => {
    const fromSnapshot = await reader("from-snapshot", true);
    assert.equal(fromSnapshot.db.syncInfo()?.startingBlock, snapshotHeight, "restored from the snapshot");
    assert.equal(fromSnapshot.db.earliest(), snapshotHeight);
    assert.equal(fromSnapshot.db.chainInfo()?.reorgMax, REORG_MAX);
    const fromStart = await reader("from-start", false);
    assert.equal(fromStart.db.earliest(), 0);
    assert.equal(fromStart.db.chainInfo()?.reorgMax, REORG_MAX);
  });

  test("the switch reset is applied − 2·16 on a running reader, and on a stopped one", async () => {
    const [running, stopped] = readers as [RunningReader, RunningReader];
    const applied = running.db.progress()?.height as number;
    const live = await running.replicator.switchPrefix("standby");
    assert.deepEqual(live, { prefix: "standby", height: applied - 2 * REORG_MAX });
    assert.equal(running.db.progress()?.height, applied - 2 * REORG_MAX, "unwound to the reset height");
    // The standby line has no blocks: the reader waits for it to link at the reset height.
    await waitFor(async () => running.replicator.status().switch?.state === "waiting", {
      timeoutMs: 10_000,
      what: "switch waiting",
    });
    assert.equal(running.replicator.status().switch?.height, applied - 2 * REORG_MAX);

    const heldBefore = stopped.db.progress()?.height as number;
    await stopped.close();
    readers.splice(readers.indexOf(stopped), 1);
    const sw = await switchOffline(join(dir, "from-start"), "standby", { logger });
    assert.equal(sw?.height, heldBefore - 2 * REORG_MAX);
    const db = new ChainDb({ path: join(dir, "from-start"), chainId: anvil.chainId });
    try {
      assert.equal(db.progress()?.height, heldBefore - 2 * REORG_MAX);
      assert.equal(db.pendingSwitch()?.prefix, "standby");
    } finally {
      await db.close();
    }
  });

  test("the writer's tip: a record re-marked 10 below the top is the tip, one 20 below is outside the window", async () => {
    await writer.close();
    for (const r of readers.splice(0)) await r.close();
    // The database CHECKPOINT created, as the staged sync's follower sees the writer's tip.
    const db = new ChainDb({ path: join(dir, "from-snapshot"), chainId: anvil.chainId });
    assert.equal(db.chainInfo()?.reorgMax, REORG_MAX);
    // Not started: only its view of the writer's tip is asked.
    const follower = new Replicator({}, { chain, db, bus: new MemoryBus(), logger });
    try {
      assert.equal(await follower.writerTip(0), 60);
      const remark = async (height: number) => {
        const ref = await chain.canonicalHead(height);
        assert.ok(ref);
        await chain.remark(await chain.readHead(ref), Date.now() + height);
      };
      await remark(40);
      assert.equal(await follower.writerTip(0), 60, "20 below the top: beyond a 16-block window");
      await remark(50);
      assert.equal(await follower.writerTip(0), 50, "10 below the top: the writer's new tip");
    } finally {
      await db.close();
    }
  });
});
