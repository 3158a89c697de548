import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encodeFunctionData } from "viem";
import WebSocket from "ws";
import { MemoryBus } from "../../src/bus/index.ts";
import { CONTRACTS, TrafficGenerator } from "../../src/demo/index.ts";
import { type RunningReader, startReader } from "../../src/reader/index.ts";
import { FsStore } from "../../src/store/index.ts";
import { createLogger, silentLogger } from "../../src/util/logger.ts";
import { type RunningWriter, startWriter } from "../../src/writer/index.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const logger = process.env.DEBUG_CK ? createLogger({ level: "warn" }) : silentLogger();
const ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

describe("reader: unwinds orphaned blocks and applies the canonical branch", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: RunningWriter;
  let reader: RunningReader;
  let url: string;
  let gen: TrafficGenerator;
  let token: string;
  const notices: { removed: boolean; blockHash: string }[] = [];
  let ws: WebSocket;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-rreorg-"));
    anvil = await startAnvil();
    gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    token = (await gen.deploy()).token;
    for (let r = 0; r < 3; r++) await gen.round();
    await gen.settle();
    const store = new FsStore({ dir: join(dir, "store") });
    const bus = new MemoryBus();
    writer = await startWriter(
      { upstream: anvil.url, store: "", prefix: "primary", pollIntervalMs: 50, crossCheck: "always" },
      { logger, store, bus },
    );
    reader = await startReader(
      {
        store: "",
        dataDir: join(dir, "r"),
        rpcPort: 0,
        prefix: "primary",
        pollIntervalMs: 50,
        upstream: anvil.url,
      },
      { logger, store, bus },
    );
    url = `http://127.0.0.1:${reader.port}/`;
    await synced();
    ws = new WebSocket(url.replace("http", "ws"));
    await new Promise((r) => ws.once("open", r));
    ws.send(
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_subscribe",
        params: ["logs", { address: token }],
      }),
    );
    ws.on("message", (d) => {
      const m = JSON.parse(d.toString()) as { params?: { result: { removed: boolean; blockHash: string } } };
      if (m.params) notices.push({ removed: m.params.result.removed, blockHash: m.params.result.blockHash });
    });
  });

  after(async () => {
    ws?.close();
    await reader?.close();
    await writer?.close();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function synced(): Promise<number> {
    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    const want = await rpcResult<{ hash: string }>(anvil.url, "eth_getBlockByNumber", [
      `0x${head.toString(16)}`,
      false,
    ]);
    await waitFor(
      async () => {
        const b = await rpcResult<{ hash: string } | null>(url, "eth_getBlockByNumber", [
          `0x${head.toString(16)}`,
          false,
        ]);
        return b?.hash === want.hash;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: `reader at ${head} ${want.hash}` },
    );
    return head;
  }

  /** Same answers as anvil for every block, receipt and the touched balances at every height. */
  async function assertIdentical(head: number): Promise<void> {
    const calls: { method: string; params: unknown[] }[] = [];
    for (let h = 0; h <= head; h++) {
      const q = `0x${h.toString(16)}`;
      calls.push({ method: "eth_getBlockByNumber", params: [q, true] });
      calls.push({ method: "eth_getBlockReceipts", params: [q] });
      for (const a of [ALICE, BOB, token]) calls.push({ method: "eth_getBalance", params: [a, q] });
      calls.push({ method: "eth_getTransactionCount", params: [ALICE, q] });
    }
    calls.push({ method: "eth_getLogs", params: [{ fromBlock: "0x0", toBlock: `0x${head.toString(16)}` }] });
    for (let at = 0; at < calls.length; at += 400) {
      const chunk = calls.slice(at, at + 400);
      const [ours, theirs] = await Promise.all([rpcBatch(url, chunk), rpcBatch(anvil.url, chunk)]);
      chunk.forEach((c, i) => {
        assert.deepEqual(
          ours[i],
          { ...(theirs[i] as object), id: ours[i]?.id },
          `${c.method} ${JSON.stringify(c.params)}`,
        );
      });
    }
  }

  const tx = (n: number) => ({ from: ALICE, to: BOB, value: `0x${(5000 + n).toString(16)}` });

  for (const depth of [1, 2, 5, 30]) {
    test(`a reorg of depth ${depth} with new transactions in the replacement blocks`, async () => {
      const before = reader.replicator.status().reorgs;
      await anvil.rpc("anvil_reorg", [
        depth,
        [
          [tx(depth), 0],
          [tx(depth + 1), depth - 1],
        ],
      ]);
      const head = await synced();
      await assertIdentical(head);
      assert.equal(reader.replicator.status().reorgs, before + 1);
      assert.equal(reader.replicator.status().refused, 0);
    });
  }

  test("logs subscribers received the orphaned logs again with removed: true", async () => {
    // Token transfers in a block that a reorg then replaces.
    const data = encodeFunctionData({ abi: CONTRACTS.Token.abi, functionName: "transfer", args: [BOB, 7n] });
    await anvil.rpc("eth_sendTransaction", [{ from: ALICE, to: token, data }]);
    const head = await synced();
    const orphan = await rpcResult<{ hash: string }>(anvil.url, "eth_getBlockByNumber", [
      `0x${head.toString(16)}`,
      false,
    ]);
    await waitFor(async () => notices.some((n) => n.blockHash === orphan.hash && !n.removed), {
      timeoutMs: 5000,
      what: "the transfer's log",
    });
    await anvil.rpc("anvil_reorg", [3, []]);
    await synced();
    await waitFor(async () => notices.some((n) => n.blockHash === orphan.hash && n.removed), {
      timeoutMs: 5000,
      what: "removed logs",
    });
    assert.ok(
      notices.some((n) => n.removed),
      "some removed logs were delivered",
    );
  });
});
