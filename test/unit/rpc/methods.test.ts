/**
 * The methods: parameter validation, answers equal to anvil's for the same chain, forwarding to
 * the upstream, the EVM plumbing, and subscriptions (notifications equal to anvil's).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createWalletClient, http, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { type CallOptions, EvmError, nextBlockEnv } from "../../../src/evm/index.ts";
import type { RpcLog } from "../../../src/format/types.ts";
import { ChainEventEmitter, type EvmApi, RpcServer } from "../../../src/rpc/index.ts";
import type { Hex } from "../../../src/util/hex.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import { ReadError } from "../../../src/view/index.ts";
import { type JsonRpcResponse, rpc, waitFor } from "../../helpers/net.ts";
import { buildFixture, type Fixture } from "./fixture.ts";
import { WsClient } from "./ws-client.ts";

const UNKNOWN_HASH: Hex = `0x${"12".repeat(32)}`;

let fx: Fixture;
let events: ChainEventEmitter;
let server: RpcServer;
let url: string;
let wsUrl: string;
const evmCalls: { method: string; height: number; opts?: CallOptions }[] = [];
let evmBehaviour: "ok" | "revert" | "unknown" = "ok";

const fakeEvm: EvmApi = {
  nextBlockEnv,
  async ethCall(_src, _req, height, opts) {
    evmCalls.push({ method: "eth_call", height, opts });
    if (evmBehaviour === "revert") {
      throw new EvmError("EVM_REVERTED", "reverted", {
        rpcCode: 3,
        rpcMessage: "execution reverted: nope",
        rpcData: "0x08c379a0",
      });
    }
    if (evmBehaviour === "unknown") throw new ReadError("STATE_UNAVAILABLE", "unknown");
    return "0xabcd";
  },
  async estimateGas(_src, _req, height, opts) {
    evmCalls.push({ method: "eth_estimateGas", height, opts });
    return "0x5208";
  },
};

before(async () => {
  fx = await buildFixture();
  events = new ChainEventEmitter();
  server = new RpcServer({ rpcPort: 0 }, { view: fx.view, events, logger: silentLogger(), evm: fakeEvm });
  const { port } = await server.start();
  url = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${port}`;
});

after(async () => {
  await server?.close();
  await fx?.anvil.stop();
});

describe("parameter validation", () => {
  const addr = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
  const cases: [string, unknown[], RegExp][] = [
    ["eth_getBalance", [], /expected 2 params \(address, block\), got 0/],
    ["eth_getBalance", ["0x12", "latest"], /params\[0\] \(address\) must be a 20-byte hex address/],
    ["eth_getBalance", [addr, "nope"], /params\[1\] \(block\) must be/],
    ["eth_getBalance", [addr, "latest", 1], /expected 2 params/],
    ["eth_getCode", [addr, { blockHash: "0x12" }], /params\[1\] \(block\) must be/],
    ["eth_getTransactionCount", [addr, 5], /params\[1\] \(block\)/],
    ["eth_getStorageAt", [addr, "0xzz", "latest"], /params\[1\] \(slot\) must be a storage slot/],
    ["eth_getStorageAt", [addr, `0x1${"0".repeat(64)}`, "latest"], /params\[1\] \(slot\)/],
    ["eth_getBlockByNumber", ["0x1"], /expected 2 params/],
    ["eth_getBlockByNumber", ["0x1", "true"], /params\[1\] \(fullTransactions\) must be a boolean/],
    ["eth_getBlockByNumber", [{ blockNumber: "0x1" }, false], /params\[0\] \(block\)/],
    ["eth_getBlockByHash", ["0x12", false], /params\[0\] \(blockHash\) must be a 32-byte hex hash/],
    ["eth_getBlockTransactionCountByHash", [5], /params\[0\] \(blockHash\)/],
    ["eth_getUncleCountByBlockNumber", [null], /params\[0\] \(block\)/],
    ["eth_getTransactionByHash", ["0x"], /params\[0\] \(transactionHash\)/],
    ["eth_getTransactionReceipt", [], /expected 1 param/],
    ["eth_getTransactionByBlockNumberAndIndex", ["0x1", -1], /params\[1\] \(index\)/],
    ["eth_getTransactionByBlockHashAndIndex", [UNKNOWN_HASH, "0x"], /params\[1\] \(index\)/],
    ["eth_getBlockReceipts", [1], /params\[0\] \(block\)/],
    ["eth_getLogs", [], /expected 1 param/],
    ["eth_getLogs", [{ foo: 1 }], /params\[0\] \(filter\) has unknown field foo/],
    ["eth_getLogs", [{ fromBlock: 1 }], /params\[0\] \(filter\)\.fromBlock must be/],
    ["eth_getLogs", [{ address: "0x12" }], /params\[0\] \(filter\)\.address must be a 20-byte hex address/],
    ["eth_getLogs", [{ topics: [null, null, null, null, null] }], /\(filter\)\.topics must have at most 4/],
    ["eth_getLogs", [{ topics: [["0x12"]] }], /\(filter\)\.topics\[0\] must be/],
    ["eth_call", [{ to: "0x12" }], /params\[0\] \(transaction\)\.to must be a 20-byte hex address/],
    ["eth_call", [{ to: addr, gas: 5 }], /params\[0\] \(transaction\)\.gas must be a hex quantity/],
    ["eth_call", [{ to: addr }, "latest", {}, {}, 1], /expected 1 to 4 params/],
    ["eth_estimateGas", ["x"], /params\[0\] \(transaction\) must be an object/],
    ["eth_feeHistory", ["0x1"], /expected 2 to 3 params/],
    ["eth_feeHistory", ["x", "latest", []], /params\[0\] \(blockCount\)/],
    ["eth_feeHistory", ["0x1", "latest", ["a"]], /params\[2\] \(rewardPercentiles\)/],
    ["eth_sendRawTransaction", ["zz"], /params\[0\] \(transaction\) must be hex-encoded bytes/],
    ["eth_chainId", [1], /expected 0 params, got 1/],
    ["net_version", ["x"], /expected 0 params/],
  ];
  for (const [method, params, message] of cases) {
    it(`${method} ${JSON.stringify(params).slice(0, 60)} → -32602`, async () => {
      const r = await rpc(url, method, params);
      assert.equal(r.error?.code, -32602, JSON.stringify(r));
      assert.match(r.error?.message ?? "", message);
    });
  }
});

describe("answers equal anvil's", () => {
  // Requests whose answers chainkeep computes or splices; pending and web3_clientVersion differ by design.
  const requests = (): [string, unknown[]][] => {
    const [a0, a1, , contract, dead] = fx.accounts as [Hex, Hex, Hex, Hex, Hex];
    const b2 = fx.view.block(2);
    const head = fx.view.block(fx.multiTxBlock);
    const tx = head?.transactions[1]?.hash as Hex;
    return [
      ["eth_chainId", []],
      ["net_version", []],
      ["net_listening", []],
      ["eth_blockNumber", []],
      ["eth_syncing", []],
      ["eth_gasPrice", []],
      ["eth_maxPriorityFeePerGas", []],
      ["eth_feeHistory", ["0x10", "latest", [0, 10, 25, 28.4, 28.5, 50, 75, 99.9, 100, 150, -5]]],
      ["eth_feeHistory", ["0x3", "0x4", []]],
      ["eth_feeHistory", ["0x0", "latest", [50]]],
      ["eth_feeHistory", [2, "earliest", [50]]],
      ["eth_feeHistory", ["0x2", "0x30", [50]]],
      ["eth_feeHistory", ["0x2", "safe", [50]]],
      ["eth_getBlockByNumber", ["0x2", true]],
      ["eth_getBlockByNumber", ["0x2", false]],
      ["eth_getBlockByNumber", ["latest", true]],
      ["eth_getBlockByNumber", ["earliest", false]],
      ["eth_getBlockByNumber", ["finalized", false]],
      ["eth_getBlockByNumber", ["0x100", false]],
      ["eth_getBlockByNumber", [3, false]],
      ["eth_getBlockByHash", [b2?.hash, true]],
      ["eth_getBlockByHash", [UNKNOWN_HASH, false]],
      ["eth_getBlockTransactionCountByNumber", ["latest"]],
      ["eth_getBlockTransactionCountByNumber", ["0x100"]],
      ["eth_getBlockTransactionCountByHash", [head?.hash]],
      ["eth_getBlockTransactionCountByHash", [UNKNOWN_HASH]],
      ["eth_getUncleCountByBlockNumber", ["0x1"]],
      ["eth_getUncleCountByBlockNumber", ["0x100"]],
      ["eth_getUncleCountByBlockHash", [head?.hash]],
      ["eth_getUncleCountByBlockHash", [UNKNOWN_HASH]],
      ["eth_getTransactionByHash", [tx]],
      ["eth_getTransactionByHash", [UNKNOWN_HASH]],
      ["eth_getTransactionReceipt", [tx]],
      ["eth_getTransactionReceipt", [UNKNOWN_HASH]],
      ["eth_getTransactionByBlockNumberAndIndex", ["latest", "0x2"]],
      ["eth_getTransactionByBlockNumberAndIndex", ["latest", "0x7"]],
      ["eth_getTransactionByBlockNumberAndIndex", ["0x100", "0x0"]],
      ["eth_getTransactionByBlockHashAndIndex", [head?.hash, 0]],
      ["eth_getTransactionByBlockHashAndIndex", [UNKNOWN_HASH, "0x0"]],
      ["eth_getBlockReceipts", ["latest"]],
      ["eth_getBlockReceipts", [b2?.hash]],
      ["eth_getBlockReceipts", [{ blockHash: b2?.hash }]],
      ["eth_getBlockReceipts", [UNKNOWN_HASH]],
      ["eth_getBlockReceipts", ["0x100"]],
      ["eth_getLogs", [{ fromBlock: "0x1", toBlock: "latest" }]],
      ["eth_getLogs", [{ fromBlock: "0x2", address: contract }]],
      ["eth_getLogs", [{ fromBlock: "0x2", address: [contract, dead] }]],
      ["eth_getLogs", [{ fromBlock: "0x2", address: [] }]],
      ["eth_getLogs", [{ fromBlock: "0x2", address: dead }]],
      ["eth_getLogs", [{ fromBlock: "0x2", topics: [fx.topic] }]],
      ["eth_getLogs", [{ fromBlock: "0x2", topics: [[fx.topic, UNKNOWN_HASH]] }]],
      ["eth_getLogs", [{ fromBlock: "0x2", topics: [null, `0x${a1.slice(2).padStart(64, "0")}`] }]],
      ["eth_getLogs", [{ fromBlock: "0x2", topics: [null, null, null] }]],
      ["eth_getLogs", [{ fromBlock: "0x2", topics: [null, null, fx.topic] }]],
      ["eth_getLogs", [{ fromBlock: "0x2", topics: [[]] }]],
      ["eth_getLogs", [{ blockHash: b2?.hash }]],
      ["eth_getLogs", [{ blockHash: UNKNOWN_HASH }]],
      ["eth_getLogs", [{ blockHash: b2?.hash, fromBlock: "0x1" }]],
      ["eth_getLogs", [{ fromBlock: "0x10", toBlock: "0x20" }]],
      ["eth_getLogs", [{}]],
      ["eth_getBalance", [a0, "latest"]],
      ["eth_getBalance", [a0.slice(2), "0x1"]],
      ["eth_getBalance", [a0.toUpperCase().replace("0X", "0x"), "earliest"]],
      ["eth_getBalance", [dead, "latest"]],
      ["eth_getBalance", [dead, "0x1"]],
      ["eth_getBalance", [a0, "0x100"]],
      ["eth_getBalance", [a0, { blockHash: b2?.hash }]],
      ["eth_getBalance", [a0, b2?.hash]],
      ["eth_getBalance", [a0, { blockHash: UNKNOWN_HASH }]],
      ["eth_getBalance", [a0, { blockNumber: "0x2" }]],
      ["eth_getBalance", [a0, null]],
      ["eth_getTransactionCount", [a1, "latest"]],
      ["eth_getTransactionCount", [a1, "0x2"]],
      ["eth_getCode", [contract, "latest"]],
      ["eth_getCode", [contract, "0x0"]],
      ["eth_getCode", [a0, "latest"]],
      ["eth_getStorageAt", [contract, "0x0", "latest"]],
      ["eth_getStorageAt", [contract, "0", "0x2"]],
      ["eth_getStorageAt", [contract, `0x${"0".repeat(64)}`, "0x1"]],
      ["eth_getStorageAt", [contract, "0x0", "0x100"]],
    ];
  };

  it("for every computed or spliced answer", async () => {
    const diffs: string[] = [];
    for (const [method, params] of requests()) {
      const [ours, theirs] = await Promise.all([rpc(url, method, params), fx.anvil.rpc(method, params)]);
      const label = `${method} ${JSON.stringify(params)}`;
      if (theirs.error) {
        if (ours.error?.code !== theirs.error.code)
          diffs.push(`${label}: ${JSON.stringify(ours)} vs ${JSON.stringify(theirs)}`);
      } else {
        try {
          assert.deepStrictEqual(ours.result, theirs.result);
        } catch {
          diffs.push(
            `${label}:\n  ours  ${JSON.stringify(ours).slice(0, 400)}\n  anvil ${JSON.stringify(theirs).slice(0, 400)}`,
          );
        }
      }
    }
    assert.deepEqual(diffs, []);
  });

  it("matches anvil's out-of-range message for state above the head", async () => {
    const p = [fx.accounts[0], "0x10"];
    const [ours, theirs] = await Promise.all([
      rpc(url, "eth_getBalance", p),
      fx.anvil.rpc("eth_getBalance", p),
    ]);
    assert.deepEqual(ours.error, theirs.error);
  });
});

describe("eth_getLogs limits (never clamped)", () => {
  let limited: RpcServer;
  let limitedUrl: string;
  before(async () => {
    limited = new RpcServer(
      { rpcPort: 0, maxLogRange: 4, maxLogResults: 3 },
      { view: fx.view, events: new ChainEventEmitter(), logger: silentLogger() },
    );
    limitedUrl = `http://127.0.0.1:${(await limited.start()).port}`;
  });
  after(async () => {
    await limited?.close();
  });

  it("refuses a reversed range with -32602 (anvil answers [])", async () => {
    const r = await rpc(limitedUrl, "eth_getLogs", [{ fromBlock: "0x3", toBlock: "0x1" }]);
    assert.equal(r.error?.code, -32602);
  });

  it("refuses a toBlock past the head with -32602 (anvil clamps it)", async () => {
    const r = await rpc(limitedUrl, "eth_getLogs", [{ fromBlock: "0x2", toBlock: "0x20" }]);
    assert.equal(r.error?.code, -32602);
    assert.equal(r.error?.message, "BlockOutOfRangeError: block height is 5 but requested was 32");
  });

  it("refuses a range longer than maxLogRange with -32602", async () => {
    const r = await rpc(limitedUrl, "eth_getLogs", [{ fromBlock: "0x0", toBlock: "0x4" }]);
    assert.equal(r.error?.code, -32602);
    assert.match(r.error?.message ?? "", /limit of 4/);
    const ok = await rpc(limitedUrl, "eth_getLogs", [{ fromBlock: "0x1", toBlock: "0x4" }]);
    assert.ok(Array.isArray(ok.result));
  });

  it("refuses more results than maxLogResults with -32005", async () => {
    const r = await rpc(limitedUrl, "eth_getLogs", [{ fromBlock: "0x2", toBlock: "latest" }]);
    assert.equal(r.error?.code, -32005);
  });
});

describe("eth_call and eth_estimateGas through src/evm", () => {
  it("runs on the resolved height and returns the EVM's answer", async () => {
    evmCalls.length = 0;
    const r = await rpc(url, "eth_call", [{ to: fx.accounts[0], data: "0x" }, "0x2"]);
    assert.equal(r.result, "0xabcd");
    assert.equal(evmCalls[0]?.height, 2);
    const latest = await rpc(url, "eth_call", [{ to: fx.accounts[0] }]);
    assert.equal(latest.result, "0xabcd");
    assert.equal(evmCalls[1]?.height, 5);
    assert.equal(evmCalls[1]?.opts?.env, undefined);
  });

  it("estimates in anvil's pending block by default (next number, next base fee)", async () => {
    evmCalls.length = 0;
    const r = await rpc(url, "eth_estimateGas", [{ to: fx.accounts[0] }]);
    assert.equal(r.result, "0x5208");
    assert.equal(evmCalls[0]?.height, 5);
    assert.equal(evmCalls[0]?.opts?.env?.number, 6n);
    // Before any later test mines on anvil, its pending block follows the fixture's head.
    const next = await fx.anvil.rpc("eth_getBlockByNumber", ["pending", false]);
    assert.equal((next.result as { number: string }).number, "0x6");
    assert.equal(
      evmCalls[0]?.opts?.env?.baseFeePerGas,
      BigInt((next.result as { baseFeePerGas: string }).baseFeePerGas),
    );
  });

  it("sends execution errors verbatim", async () => {
    evmBehaviour = "revert";
    try {
      const r = await rpc(url, "eth_call", [{ to: fx.accounts[0] }, "latest"]);
      assert.deepEqual(r.error, { code: 3, message: "execution reverted: nope", data: "0x08c379a0" });
    } finally {
      evmBehaviour = "ok";
    }
  });

  it("gives state errors before running the EVM", async () => {
    const r = await rpc(url, "eth_call", [{ to: fx.accounts[0] }, "0x100"]);
    assert.equal(r.error?.code, -32602);
    const h = await rpc(url, "eth_call", [{ to: fx.accounts[0] }, { blockHash: UNKNOWN_HASH }]);
    assert.equal(h.error?.code, -32001);
  });
});

describe("eth_call and eth_estimateGas with the real src/evm", () => {
  let real: RpcServer;
  let realUrl: string;
  before(async () => {
    real = new RpcServer(
      { rpcPort: 0 },
      { view: fx.view, events: new ChainEventEmitter(), logger: silentLogger() },
    );
    realUrl = `http://127.0.0.1:${(await real.start()).port}`;
  });
  after(async () => {
    await real?.close();
  });

  it("answers as anvil does", async () => {
    // The calls below touch only accounts the fixture holds, and absent ones.
    fx.view.assumeComplete = true;
    after(() => {
      fx.view.assumeComplete = false;
    });
    const [a0, , , contract] = fx.accounts as [Hex, Hex, Hex, Hex];
    const cases: [string, unknown[]][] = [
      ["eth_call", [{ to: contract, data: fx.topic }, "latest"]],
      ["eth_call", [{ from: a0, to: contract, data: fx.topic }, "0x2"]],
      ["eth_call", [{ to: "0x0000000000000000000000000000000000000004", data: "0x1234" }]],
      ["eth_estimateGas", [{ from: a0, to: contract, data: fx.topic }, "latest"]],
      ["eth_estimateGas", [{ from: a0, to: a0, value: "0x1" }, "latest"]],
    ];
    for (const [method, params] of cases) {
      const [ours, theirs] = await Promise.all([rpc(realUrl, method, params), fx.anvil.rpc(method, params)]);
      assert.deepEqual(
        { result: ours.result, error: ours.error },
        { result: theirs.result, error: theirs.error },
        `${method} ${JSON.stringify(params)}`,
      );
    }
  });
});

describe("forwarding to the upstream", () => {
  let fwd: RpcServer;
  let fwdUrl: string;

  before(async () => {
    fwd = new RpcServer(
      { rpcPort: 0, upstream: fx.anvil.url },
      { view: fx.view, events: new ChainEventEmitter(), logger: silentLogger(), evm: fakeEvm },
    );
    fwdUrl = `http://127.0.0.1:${(await fwd.start()).port}`;
  });
  after(async () => {
    fx.view.earliestHeight = 0;
    await fwd?.close();
  });

  async function same(method: string, params: unknown[], target = fwdUrl): Promise<JsonRpcResponse> {
    const [ours, theirs] = await Promise.all([rpc(target, method, params), fx.anvil.rpc(method, params)]);
    assert.deepEqual(
      { result: ours.result, error: ours.error },
      { result: theirs.result, error: theirs.error },
    );
    return ours;
  }

  it("answers unknown state from the upstream, and -32000 without one", async () => {
    const stranger = "0x00000000000000000000000000000000000b0b00";
    const slot = ["0x5fbdb2315678afecb367f032d93f642f64180aa3", "0x7", "latest"];
    await same("eth_getBalance", [stranger, "latest"]);
    await same("eth_getStorageAt", slot);
    const local = await rpc(url, "eth_getStorageAt", slot);
    assert.deepEqual(local.error, { code: -32000, message: "state not available" });
  });

  it("forwards blocks and state below the earliest held block", async () => {
    fx.view.earliestHeight = 3;
    try {
      await same("eth_getBalance", [fx.accounts[0], "0x1"]);
      await same("eth_getBlockByNumber", ["0x1", true]);
      await same("eth_getLogs", [{ fromBlock: "0x1", toBlock: "0x2" }]);
      const held = await rpc(fwdUrl, "eth_getBlockByNumber", ["0x3", false]);
      assert.equal((held.result as { number: string }).number, "0x3");
    } finally {
      fx.view.earliestHeight = 0;
    }
  });

  it("forwards eth_sendRawTransaction verbatim, errors included", async () => {
    const bad = await same("eth_sendRawTransaction", ["0x1234"]);
    assert.ok(bad.error);
    const noUpstream = await rpc(url, "eth_sendRawTransaction", ["0x1234"]);
    assert.equal(noUpstream.error?.code, -32000);
    const w = createWalletClient({
      account: privateKeyToAccount("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"),
      chain: foundry,
      transport: http(fx.anvil.url),
    });
    const raw = await w.signTransaction({
      account: w.account,
      chain: foundry,
      to: "0x000000000000000000000000000000000000dEaD",
      value: 1n,
      nonce: 0,
      gas: 21000n,
      maxFeePerGas: parseGwei("50"),
      maxPriorityFeePerGas: parseGwei("1"),
    });
    const r = await rpc(fwdUrl, "eth_sendRawTransaction", [raw]);
    assert.match(String(r.result), /^0x[0-9a-f]{64}$/);
    await waitFor(async () => (await fx.anvil.rpc("eth_getTransactionReceipt", [r.result])).result, {
      what: "anvil mining the forwarded transaction",
    });
  });

  it("forwards calls the EVM cannot answer, and calls with overrides", async () => {
    evmBehaviour = "unknown";
    try {
      const call = [{ to: "0x5fbdb2315678afecb367f032d93f642f64180aa3", data: "0x" }, "latest"];
      const r = await rpc(fwdUrl, "eth_call", call);
      assert.equal(r.result, "0x");
      const local = await rpc(url, "eth_call", call);
      assert.deepEqual(local.error, { code: -32000, message: "state not available" });
    } finally {
      evmBehaviour = "ok";
    }
    const n = evmCalls.length;
    const withOverrides = await rpc(fwdUrl, "eth_call", [
      { to: fx.accounts[0] },
      "latest",
      { [fx.accounts[0] as Hex]: {} },
    ]);
    assert.equal(withOverrides.result, "0x");
    assert.equal(evmCalls.length, n, "the local EVM was not used");
  });
});

describe("subscriptions", () => {
  function headEvent(height: number, removed?: RpcLog[]) {
    const held = fx.view.heldBlock(height);
    assert.ok(held);
    return { height, hash: held.block.hash, block: held.block, logs: held.logs, removed };
  }

  it("sends newHeads and logs notifications shaped as anvil's", async () => {
    const ws = await WsClient.connect(wsUrl);
    try {
      const heads = (await ws.call({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_subscribe",
        params: ["newHeads"],
      })) as {
        result: string;
      };
      const logs = (await ws.call({
        jsonrpc: "2.0",
        id: 2,
        method: "eth_subscribe",
        params: ["logs", { address: fx.contract, topics: [fx.topic] }],
      })) as { result: string };
      events.emitBlock(headEvent(fx.multiTxBlock));
      const got = { newHeads: undefined as unknown, logs: [] as unknown[] };
      for (let i = 0; i < 1 + fx.anvilNotifications.logs.length; i++) {
        const m = JSON.parse(await ws.next()) as {
          method: string;
          params: { subscription: string; result: unknown };
        };
        assert.equal(m.method, "eth_subscription");
        if (m.params.subscription === heads.result) got.newHeads = m.params.result;
        else if (m.params.subscription === logs.result) got.logs.push(m.params.result);
      }
      assert.deepStrictEqual(got, fx.anvilNotifications);
      assert.equal(ws.pending(), 0);
    } finally {
      ws.close();
    }
  });

  it("re-sends logs a reorg removed with removed: true, before the new block's", async () => {
    const ws = await WsClient.connect(wsUrl);
    try {
      await ws.call({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["logs", {}] });
      const gone = fx.view.blockLogs(2);
      events.emitBlock(headEvent(3, gone));
      const first = JSON.parse(await ws.next()) as { params: { result: RpcLog } };
      assert.deepStrictEqual(first.params.result, { ...gone[0], removed: true });
      const second = JSON.parse(await ws.next()) as { params: { result: RpcLog } };
      assert.deepStrictEqual(second.params.result, fx.view.blockLogs(3)[0]);
      assert.equal(second.params.result.removed, false);
    } finally {
      ws.close();
    }
  });

  it("unsubscribes: true once, then false; filtered-out logs are not sent", async () => {
    const ws = await WsClient.connect(wsUrl);
    try {
      const sub = (await ws.call({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_subscribe",
        params: ["logs", { address: "0x000000000000000000000000000000000000dead" }],
      })) as { result: string };
      events.emitBlock(headEvent(fx.multiTxBlock));
      const r1 = (await ws.call({
        jsonrpc: "2.0",
        id: 2,
        method: "eth_unsubscribe",
        params: [sub.result],
      })) as {
        result: boolean;
      };
      assert.equal(r1.result, true, "no notification arrived before the answer");
      const r2 = (await ws.call({
        jsonrpc: "2.0",
        id: 3,
        method: "eth_unsubscribe",
        params: [sub.result],
      })) as {
        result: boolean;
      };
      assert.equal(r2.result, false);
    } finally {
      ws.close();
    }
  });
});
