import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EvmError } from "../../../src/evm/index.ts";
import { CallCache, canonicalRequest } from "../../../src/rpc/callcache.ts";
import { ChainEventEmitter, type EvmApi, RpcServer } from "../../../src/rpc/index.ts";
import type { Hex } from "../../../src/util/hex.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import type { ChainTip, ChainView } from "../../../src/view/index.ts";
import { ReadError } from "../../../src/view/index.ts";

const hashAt = (h: number, fork = "a"): Hex => `0x${fork.repeat(2)}${h.toString(16).padStart(62, "0")}`;

/** Just enough of a view for eth_call: a tip that can move, and headers. */
function fakeView(): ChainView & { tipHeight: number; fork: string } {
  const view = {
    chainId: 31337,
    tipHeight: 10,
    fork: "a",
    earliest: () => 0,
    tip(): ChainTip {
      return { height: view.tipHeight, hash: hashAt(view.tipHeight, view.fork), safe: 0, finalized: 0 };
    },
    heightByHash: () => undefined,
    header: (h: number) =>
      h <= view.tipHeight
        ? {
            number: `0x${h.toString(16)}`,
            hash: hashAt(h, view.fork),
            parentHash: hashAt(h - 1),
            timestamp: "0x1",
          }
        : undefined,
    block: () => undefined,
  };
  return view as unknown as ChainView & { tipHeight: number; fork: string };
}

describe("eth_call answer cache", () => {
  it("canonical requests sort top-level keys and drop absent fields", () => {
    assert.equal(
      canonicalRequest({ to: "0x1", data: "0xab", from: undefined }),
      canonicalRequest({ data: "0xab", to: "0x1" }),
    );
    assert.notEqual(
      canonicalRequest({ to: "0x1", data: "0xab" }),
      canonicalRequest({ to: "0x1", data: "0xAB" }),
    );
  });

  it("keeps answers least recently used first out, and only deterministic errors", () => {
    const c = new CallCache({ maxEntries: 2 });
    c.set("a", { ok: true, result: "0x1" });
    c.set("b", { ok: true, result: "0x2" });
    assert.ok(c.get("a"));
    c.set("c", { ok: true, result: "0x3" });
    assert.equal(c.get("b"), undefined, "b was the least recently used");
    assert.ok(c.get("a") && c.get("c"));
    c.set("d", { ok: false, error: new ReadError("STATE_UNAVAILABLE", "unknown") });
    assert.equal(c.get("d"), undefined, "forwarded answers are not kept");
    c.set("e", { ok: false, error: new EvmError("EVM_REVERTED", "reverted") });
    assert.ok(c.get("e"));
  });

  describe("through eth_call", () => {
    const view = fakeView();
    let runs = 0;
    let server: RpcServer;
    let url: string;
    const evm: EvmApi = {
      ethCall: async (_src, req, height) => {
        runs++;
        if ((req.data as string) === "0xdead") {
          throw new EvmError("EVM_REVERTED", "execution reverted", {
            rpcCode: 3,
            rpcMessage: "execution reverted",
            rpcData: "0x",
          });
        }
        return `0x${height.toString(16).padStart(2, "0")}${runs.toString(16).padStart(2, "0")}` as Hex;
      },
      estimateGas: async () => "0x5208",
      nextBlockEnv: (parent) => ({
        number: BigInt(parent.number) + 1n,
        timestamp: 2n,
        coinbase: `0x${"00".repeat(20)}`,
        baseFeePerGas: 0n,
        prevRandao: `0x${"00".repeat(32)}`,
        gasLimit: 30_000_000n,
        difficulty: 0n,
        excessBlobGas: 0n,
      }),
    };
    const call = async (params: unknown[]) => {
      const r = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_call", params }),
      });
      return (await r.json()) as { result?: string; error?: { code: number } };
    };
    before(async () => {
      server = new RpcServer(
        { rpcPort: 0, callCacheEntries: 16 },
        { view, events: new ChainEventEmitter(), logger: silentLogger(), evm },
      );
      url = `http://127.0.0.1:${(await server.start()).port}/`;
    });
    after(async () => {
      await server.close();
    });

    it("answers the same request on the same block hash from the cache, by hash not by tag", async () => {
      const tx = { to: "0x0000000000000000000000000000000000000001", data: "0x01" };
      const first = await call([tx, "latest"]);
      assert.deepEqual(await call([tx, "latest"]), first);
      assert.deepEqual(await call([{ data: "0x01", to: tx.to }, "0xa"]), first, "the same block by number");
      assert.equal(runs, 1);
      // A new head: "latest" is another block.
      view.tipHeight = 11;
      const second = await call([tx, "latest"]);
      assert.notDeepEqual(second, first);
      assert.equal(runs, 2);
      // A reorg: height 11 is now another block, with another hash.
      view.fork = "b";
      assert.notDeepEqual(await call([tx, "latest"]), second);
      assert.equal(runs, 3);
    });

    it("keeps reverts, and never caches pending", async () => {
      const before = runs;
      const revert = { to: "0x0000000000000000000000000000000000000001", data: "0xdead" };
      assert.equal((await call([revert, "latest"])).error?.code, 3);
      assert.equal((await call([revert, "latest"])).error?.code, 3);
      assert.equal(runs, before + 1);
      const tx = { to: "0x0000000000000000000000000000000000000001", data: "0x02" };
      await call([tx, "pending"]);
      await call([tx, "pending"]);
      assert.equal(runs, before + 3);
    });
  });
});
