import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { keccak256 } from "viem";
import { ANVIL_DEV_KEYS, TrafficGenerator, TX_KINDS } from "../../../src/demo/index.ts";
import type { Hex } from "../../../src/util/hex.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../../helpers/anvil.ts";
import { buildVariedChain, type VariedChainManifest } from "../../helpers/chain.ts";
import { type JsonRpcResponse, rpcBatch } from "../../helpers/net.ts";

const ZERO_WORD = `0x${"0".repeat(64)}`;
const TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

interface Receipt {
  transactionHash: Hex;
  status: Hex;
  type: Hex;
  blockNumber: Hex;
  logs: { address: Hex; topics: Hex[] }[];
}

async function many(url: string, method: string, paramsList: unknown[][]): Promise<JsonRpcResponse[]> {
  const replies = await rpcBatch(
    url,
    paramsList.map((params) => ({ method, params })),
  );
  for (const r of replies) assert.equal(r.error, undefined, `${method}: ${JSON.stringify(r.error)}`);
  return replies;
}

async function receipts(url: string, hashes: Hex[]): Promise<Receipt[]> {
  const replies = await many(
    url,
    "eth_getTransactionReceipt",
    hashes.map((h) => [h]),
  );
  return replies.map((r, i) => {
    assert.ok(r.result, `no receipt for ${hashes[i]}`);
    return r.result as Receipt;
  });
}

describe("traffic generator on automine anvil", () => {
  let anvil: AnvilInstance;
  let m: VariedChainManifest;

  before(async () => {
    anvil = await startAnvil();
    m = await buildVariedChain(anvil);
  });
  after(async () => {
    await anvil?.stop();
  });

  test("every kind of transaction was sent and the chain is long enough", () => {
    for (const kind of TX_KINDS) assert.ok(m.txs[kind].length > 0, `no ${kind} transaction`);
    assert.ok(m.blocks.to >= 40, `only ${m.blocks.to} blocks`);
    assert.equal(m.blocks.from, 1);
    assert.ok(m.accounts.length >= 15);
  });

  test("receipts: reverts failed, everything else succeeded, all three types present", async () => {
    const all = [...new Set(TX_KINDS.flatMap((k) => m.txs[k]))];
    const rs = await receipts(anvil.url, all);
    const reverted = new Set(m.txs.reverted);
    for (const r of rs) {
      assert.equal(
        r.status,
        reverted.has(r.transactionHash) ? "0x0" : "0x1",
        `status of ${r.transactionHash}`,
      );
    }
    const types = new Set(rs.map((r) => r.type));
    assert.deepEqual([...types].sort(), ["0x0", "0x1", "0x2"]);
    const byHash = new Map(rs.map((r) => [r.transactionHash, r]));
    for (const h of m.txs.legacy) assert.equal(byHash.get(h)?.type, "0x0");
    for (const h of m.txs.eip2930) assert.equal(byHash.get(h)?.type, "0x1");
    for (const h of m.txs.eip1559) assert.equal(byHash.get(h)?.type, "0x2");
    // Automine: one transaction per block.
    assert.equal(new Set(rs.map((r) => r.blockNumber)).size, rs.length);
  });

  test("EIP-2930 transactions carry a non-empty access list", async () => {
    const txs = await many(
      anvil.url,
      "eth_getTransactionByHash",
      m.txs.eip2930.map((h) => [h]),
    );
    for (const t of txs) {
      const tx = t.result as { type: Hex; accessList: unknown[] };
      assert.equal(tx.type, "0x1");
      assert.ok(tx.accessList.length > 0);
    }
  });

  test("ERC-20 transactions emitted Transfer or Approval logs from the token", async () => {
    const rs = await receipts(anvil.url, m.txs.erc20);
    for (const r of rs) {
      assert.ok(r.logs.length > 0, `no logs in ${r.transactionHash}`);
      assert.equal(r.logs[0]?.address.toLowerCase(), m.contracts.token.toLowerCase());
    }
    assert.ok(rs.some((r) => r.logs.some((l) => l.topics[0] === TRANSFER_TOPIC)));
  });

  test("cross-contract calls logged from several contracts", async () => {
    const rs = await receipts(anvil.url, m.txs.crossCall);
    assert.ok(rs.some((r) => new Set(r.logs.map((l) => l.address.toLowerCase())).size >= 2));
    const codes = await many(
      anvil.url,
      "eth_getCode",
      m.children.map((a) => [a, "latest"]),
    );
    assert.ok(m.children.length > 0);
    for (const c of codes) assert.notEqual(c.result, "0x", "CREATE2 child has code");
  });

  test("self-destructed contracts have no code and no balance", async () => {
    assert.ok(m.selfDestructed.length > 0);
    const codes = await many(
      anvil.url,
      "eth_getCode",
      m.selfDestructed.map((a) => [a, "latest"]),
    );
    const balances = await many(
      anvil.url,
      "eth_getBalance",
      m.selfDestructed.map((a) => [a, "latest"]),
    );
    for (const c of codes) assert.equal(c.result, "0x");
    for (const b of balances) assert.equal(b.result, "0x0");
  });

  test("deleted slots read zero, slots still written read non-zero", async () => {
    assert.ok(m.storage.deleted.length > 0);
    const deleted = new Set(m.storage.deleted.map((s) => `${s.address}:${s.slot}`));
    const live = m.storage.written.filter((s) => !deleted.has(`${s.address}:${s.slot}`));
    assert.ok(live.length > 0);
    const gone = await many(
      anvil.url,
      "eth_getStorageAt",
      m.storage.deleted.map((s) => [s.address, s.slot, "latest"]),
    );
    for (const g of gone) assert.equal(g.result, ZERO_WORD);
    const kept = await many(
      anvil.url,
      "eth_getStorageAt",
      live.map((s) => [s.address, s.slot, "latest"]),
    );
    for (const k of kept) assert.notEqual(k.result, ZERO_WORD);
    // Each deleted slot was non-zero at some earlier block: it was written first.
    const written = new Set(m.storage.written.map((s) => `${s.address}:${s.slot}`));
    for (const d of deleted) assert.ok(written.has(d));
  });

  test("sendBatch(200) lands 200 transactions", async () => {
    const gen = new TrafficGenerator(
      { rpcUrl: anvil.url, chainId: anvil.chainId, contracts: m.contracts },
      { logger: silentLogger() },
    );
    const before = Number((await anvil.rpc("eth_blockNumber")).result);
    const hashes = await gen.sendBatch(200, { wait: true });
    assert.equal(new Set(hashes).size, 200);
    const rs = await receipts(anvil.url, hashes);
    assert.ok(rs.every((r) => r.status === "0x1"));
    assert.ok(rs.filter((r) => r.logs.length > 0).length >= 90, "token transfers in the batch");
    // Automine mines what is ready when a block is built: a batch shares blocks.
    const after = Number((await anvil.rpc("eth_blockNumber")).result);
    assert.ok(after > before);
    const heights = rs.map((r) => Number(r.blockNumber));
    assert.ok(Math.min(...heights) > before && Math.max(...heights) <= after);
  });

  // Last in this block: its rounds write storage the tests above read at "latest".
  test("round() with contracts from the options reads the nonces itself", async () => {
    const gen = new TrafficGenerator(
      { rpcUrl: anvil.url, chainId: anvil.chainId, contracts: m.contracts },
      { logger: silentLogger() },
    );
    const first = await gen.round();
    const second = await gen.round();
    await gen.settle();
    assert.deepEqual(gen.manifest().contracts, m.contracts);
    const sent = [...first.txs, ...second.txs];
    assert.ok(first.txs.length >= 13 && second.txs.length > first.txs.length, "round 2 adds deletes");
    const rs = await receipts(
      anvil.url,
      sent.map((t) => t.hash),
    );
    for (const [i, r] of rs.entries()) {
      assert.equal(r.status, sent[i]?.expectRevert ? "0x0" : "0x1", `status of ${r.transactionHash}`);
    }
    // Nonces continue per sender across the two rounds, without gaps.
    const bySender = new Map<string, number[]>();
    for (const t of sent) bySender.set(t.from, [...(bySender.get(t.from) ?? []), t.nonce]);
    for (const [from, nonces] of bySender) {
      for (let i = 1; i < nonces.length; i++) {
        assert.equal(nonces[i], (nonces[i - 1] as number) + 1, `nonces of ${from}`);
      }
    }
  });
});

describe("traffic generator settle() on a node that shows nonces before receipts", () => {
  // A fake node: after accepting transactions it reports their nonces as mined at once (as anvil
  // does while it is still storing the block) and serves their receipts only `receiptDelayMs` later.
  const receiptDelayMs = 400;
  const sent: { hash: Hex; at: number }[] = [];
  let receiptPolls = 0;
  let server: Server;
  let url: string;

  function answer(req: { id: number; method: string; params: unknown[] }): unknown {
    const ok = (result: unknown) => ({ jsonrpc: "2.0", id: req.id, result });
    switch (req.method) {
      case "eth_chainId":
        return ok("0x7a69");
      case "eth_getTransactionCount":
        // One sender (the only key below): mined = pending = what it sent.
        return ok(`0x${sent.length.toString(16)}`);
      case "eth_getBlockByNumber":
        return ok({
          number: "0x1",
          hash: `0x${"11".repeat(32)}`,
          parentHash: `0x${"00".repeat(32)}`,
          timestamp: "0x1",
          gasLimit: "0x1c9c380",
          gasUsed: "0x0",
          baseFeePerGas: "0x3b9aca00",
          transactions: [],
        });
      case "eth_sendRawTransaction": {
        const raw = req.params[0] as Hex;
        const hash = keccak256(raw);
        sent.push({ hash, at: Date.now() });
        return ok(hash);
      }
      case "eth_getTransactionReceipt": {
        receiptPolls += 1;
        const tx = sent.find((t) => t.hash === req.params[0]);
        if (!tx || Date.now() - tx.at < receiptDelayMs) return ok(null);
        return ok({ transactionHash: tx.hash, status: "0x1", blockNumber: "0x2" });
      }
      default:
        return { jsonrpc: "2.0", id: req.id, error: { code: -32601, message: "method not found" } };
    }
  }

  before(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        const parsed = JSON.parse(body);
        const reply = Array.isArray(parsed) ? parsed.map(answer) : answer(parsed);
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(reply));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("settle() returns only once the last transactions' receipts are served", async () => {
    const gen = new TrafficGenerator(
      { rpcUrl: url, chainId: 31337, privateKeys: [ANVIL_DEV_KEYS[0] as Hex], pollIntervalMs: 10 },
      { logger: silentLogger() },
    );
    const hashes = await gen.sendBatch(3);
    assert.equal(sent.length, 3);
    await gen.settle();
    const last = sent[sent.length - 1] as { hash: Hex; at: number };
    assert.ok(Date.now() - last.at >= receiptDelayMs, "settle() returned before the receipt existed");
    assert.ok(receiptPolls > 1, "settle() polled receipts");
    const rs = await gen.waitForReceipts(hashes);
    assert.deepEqual(
      rs.map((r) => r.transactionHash),
      hashes,
    );
  });
});

describe("traffic generator on interval-mining anvil", () => {
  let anvil: AnvilInstance;
  before(async () => {
    anvil = await startAnvil({ blockTime: 1 });
  });
  after(async () => {
    await anvil?.stop();
  });

  test("rounds put several transactions in one block; run() stops on maxRounds", async () => {
    const gen = new TrafficGenerator(
      { rpcUrl: anvil.url, chainId: anvil.chainId },
      { logger: silentLogger() },
    );
    await gen.deploy();
    const { rounds } = await gen.run({ intervalMs: 0, maxRounds: 2 });
    assert.equal(rounds, 2);
    const batch = await gen.sendBatch(200);
    await gen.settle();
    const m = gen.manifest();
    const all = [...new Set(TX_KINDS.flatMap((k) => m.txs[k]))];
    assert.ok(all.length >= 200 + 30);
    const rs = await receipts(anvil.url, all);
    const reverted = new Set(m.txs.reverted);
    for (const r of rs) assert.equal(r.status, reverted.has(r.transactionHash) ? "0x0" : "0x1");
    const perBlock = new Map<string, number>();
    for (const r of rs) perBlock.set(r.blockNumber, (perBlock.get(r.blockNumber) ?? 0) + 1);
    assert.ok(Math.max(...perBlock.values()) > 1);
    const batchBlocks = new Set((await receipts(anvil.url, batch)).map((r) => r.blockNumber));
    assert.ok(batchBlocks.size <= 3, `batch spread over ${batchBlocks.size} blocks`);
  });

  test("the chain id is checked", async () => {
    const gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: 1 }, { logger: silentLogger() });
    await assert.rejects(gen.deploy(), { code: "CONFIG_INVALID" });
  });
});
