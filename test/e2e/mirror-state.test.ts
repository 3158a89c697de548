import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MemoryBus } from "../../src/bus/index.ts";
import { TrafficGenerator, type TrafficManifest } from "../../src/demo/index.ts";
import { ChainDb } from "../../src/reader/index.ts";
import { Replicator } from "../../src/reader/replicator.ts";
import { ChainStore, FsStore } from "../../src/store/index.ts";
import { HttpUpstream } from "../../src/upstream/index.ts";
import { systemClock } from "../../src/util/clock.ts";
import type { Hex } from "../../src/util/hex.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { Writer } from "../../src/writer/index.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const SYSTEM = ["0x0000f90827f1c53a10cb7a02335b175320002935", "0x000f3df6d732807ef1319fb7b8bb8522d0beac02"];

for (const diffSource of ["replay", "prestate"] as const) {
  describe(`mirror data path (${diffSource} diffs): writer → directory store → reader database`, () => {
    let anvil: AnvilInstance;
    let dir: string;
    let writer: Writer;
    let replicator: Replicator;
    let db: ChainDb;
    let chain: TrafficManifest;
    let head: number;
    const logger = silentLogger();

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "ck-mirror-"));
      anvil = await startAnvil();
      // Part of the chain exists before the writer starts: its initial state is rolled back to 0.
      const gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
      await gen.deploy();
      await gen.round();
      await gen.settle();
      const store = new FsStore({ dir: join(dir, "store") });
      const bus = new MemoryBus();
      const chainStore = new ChainStore(store, "primary", anvil.chainId);
      writer = new Writer(
        { crossCheck: "always", pollInterval: 100, diffSource },
        {
          upstream: new HttpUpstream({ url: anvil.wsUrl }, { logger }),
          chain: chainStore,
          bus,
          clock: systemClock,
          logger,
        },
      );
      await writer.start();
      db = new ChainDb({ path: join(dir, "db"), chainId: anvil.chainId });
      replicator = new Replicator({ pollInterval: 200 }, { chain: chainStore, db, bus, logger });
      await replicator.start();
      for (let r = 0; r < 2 || Number(await rpcResult<string>(anvil.url, "eth_blockNumber")) < 45; r++)
        await gen.round();
      await gen.settle();
      chain = gen.manifest();
      head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
      await replicator.waitFor(head, 60_000);
      // The head record is visible once renamed into place, before the writer's put has synced
      // the directory and returned: the reader may apply a block before the writer counts it.
      await waitFor(async () => writer.status().height >= head, {
        timeoutMs: 10_000,
        what: "writer status at head",
      });
    });

    after(async () => {
      await replicator?.stop();
      await writer?.stop();
      await db?.close();
      await anvil?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test("the writer committed every height with no error (state diffs cross-checked against plain reads)", () => {
      const s = writer.status();
      assert.equal(s.height, head);
      assert.equal(s.lastError, undefined);
      assert.equal(replicator.status().refused, 0);
      assert.equal(db.tip()?.hash !== undefined, true);
    });

    test("balance, nonce, code and storage equal the upstream's at every height", async () => {
      const accounts = [...new Set([...chain.accounts.map((a) => a.toLowerCase()), ...SYSTEM])] as Hex[];
      const slots = [...chain.storage.written, ...chain.storage.deleted].map((s) => ({
        address: s.address.toLowerCase() as Hex,
        slot: s.slot,
      }));
      // The history contract's ring buffer (EIP-2935) is written by a system call no trace shows.
      for (let i = 0; i < 4; i++)
        slots.push({ address: SYSTEM[0] as Hex, slot: `0x${i.toString(16).padStart(64, "0")}` });
      let compared = 0;
      for (let h = 0; h <= head; h++) {
        const tag = `0x${h.toString(16)}`;
        const calls = accounts.flatMap((a) => [
          { method: "eth_getBalance", params: [a, tag] },
          { method: "eth_getTransactionCount", params: [a, tag] },
          { method: "eth_getCode", params: [a, tag] },
        ]);
        for (const s of slots) calls.push({ method: "eth_getStorageAt", params: [s.address, s.slot, tag] });
        const res = await rpcBatch(anvil.url, calls);
        let i = 0;
        for (const a of accounts) {
          const acct = db.account(a, h);
          const [bal, nonce, code] = [res[i++]?.result, res[i++]?.result, res[i++]?.result] as Hex[];
          assert.equal(BigInt(acct?.balance ?? 0), BigInt(bal as Hex), `balance ${a} @${h}`);
          assert.equal(BigInt(acct?.nonce ?? 0), BigInt(nonce as Hex), `nonce ${a} @${h}`);
          assert.equal(acct ? db.code(acct.codeHash) : "0x", code, `code ${a} @${h}`);
          compared += 3;
        }
        for (const s of slots) {
          assert.equal(
            db.storage(s.address, s.slot, h),
            res[i++]?.result,
            `storage ${s.address}[${s.slot}] @${h}`,
          );
          compared++;
        }
      }
      assert.ok(compared > 1000, `compared ${compared} values`);
    });

    test("a tampered bundle is refused and never applied", async () => {
      // Copy the store, flip one byte in one bundle, and sync a fresh database from the copy.
      const copy = join(dir, "tampered");
      const { cp } = await import("node:fs/promises");
      await cp(join(dir, "store"), copy, { recursive: true });
      const target = 10;
      const bdir = join(copy, "primary", String(anvil.chainId), "blocks", String(target).padStart(12, "0"));
      const [name] = await readdir(bdir);
      const file = join(bdir, name as string);
      const bytes = await readFile(file);
      bytes[bytes.length - 12] = (bytes[bytes.length - 12] ?? 0) ^ 0xff;
      await writeFile(file, bytes);
      const db2 = new ChainDb({ path: join(dir, "db2"), chainId: anvil.chainId });
      const r2 = new Replicator(
        { pollInterval: 100 },
        {
          chain: new ChainStore(new FsStore({ dir: copy }), "primary", anvil.chainId),
          db: db2,
          bus: new MemoryBus(),
          logger,
        },
      );
      await r2.start();
      await r2.waitFor(target - 1, 20_000);
      const deadline = Date.now() + 5000;
      while (r2.status().refused === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await r2.stop();
      assert.ok(r2.status().refused > 0, "refusal counted");
      assert.equal(db2.tip()?.height, target - 1, "nothing past the bad bundle applied");
      await db2.close();
    });
  });
}
