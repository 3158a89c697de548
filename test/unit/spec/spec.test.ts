import assert from "node:assert/strict";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Hex } from "../../../src/util/hex.ts";
import { type AnvilInstance, startAnvil } from "../../helpers/anvil.ts";
import { buildVariedChain, type VariedChainManifest } from "../../helpers/chain.ts";
import { rpcBatch, rpcResult } from "../../helpers/net.ts";
import {
  hasResultSchema,
  openRpcDocument,
  specPath,
  validateComponent,
  validateParams,
  validateResult,
} from "../../helpers/spec.ts";

describe("OpenRPC validation helper", () => {
  let anvil: AnvilInstance;
  let chain: VariedChainManifest;

  before(async () => {
    anvil = await startAnvil();
    chain = await buildVariedChain(anvil, { rounds: 1, minBlocks: 10 });
  });
  after(async () => {
    await anvil?.stop();
  });

  test("loads the execution-apis document", () => {
    const doc = openRpcDocument();
    assert.ok(doc.methods.length > 40);
    for (const m of ["eth_getBlockByNumber", "eth_getLogs", "eth_feeHistory", "eth_getTransactionReceipt"])
      assert.ok(hasResultSchema(m), m);
    assert.ok(hasResultSchema("web3_clientVersion"), "chainkeep's supplement");
    assert.equal(hasResultSchema("eth_noSuchMethod"), false);
  });

  test("anvil's blocks, receipts, logs, fee history and transactions are valid", async () => {
    const head = `0x${chain.blocks.to.toString(16)}`;
    const txs = [...chain.txs.legacy, ...chain.txs.eip2930, ...chain.txs.eip1559, ...chain.txs.deploy];
    const calls: { method: string; params: unknown[] }[] = [
      { method: "eth_chainId", params: [] },
      { method: "eth_blockNumber", params: [] },
      { method: "net_version", params: [] },
      { method: "eth_syncing", params: [] },
      { method: "eth_gasPrice", params: [] },
      { method: "eth_getBlockByNumber", params: ["0x0", false] },
      { method: "eth_getBlockByNumber", params: [head, true] },
      { method: "eth_getBlockByNumber", params: ["latest", false] },
      { method: "eth_getBlockByNumber", params: ["0xffffff", false] },
      { method: "eth_getBlockReceipts", params: [head] },
      { method: "eth_getLogs", params: [{ fromBlock: "0x0", toBlock: head }] },
      { method: "eth_feeHistory", params: ["0x5", "latest", [10, 50, 90]] },
      { method: "eth_getBalance", params: [chain.accounts[0], "latest"] },
      { method: "eth_getCode", params: [chain.contracts.token, "latest"] },
      ...txs.map((h) => ({ method: "eth_getTransactionByHash", params: [h] })),
      ...txs.map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })),
    ];
    const replies = await rpcBatch(anvil.url, calls);
    let logs = 0;
    const problems: string[] = [];
    replies.forEach((r, i) => {
      const c = calls[i] as { method: string; params: unknown[] };
      const what = `${c.method} ${JSON.stringify(c.params)}`;
      if (r.error) problems.push(`${what}: ${JSON.stringify(r.error)}`);
      problems.push(...validateParams(c.method, c.params).map((p) => `${what}: ${p}`));
      problems.push(...validateResult(c.method, r.result).map((p) => `${what}: ${p}`));
      if (c.method === "eth_getLogs") logs = (r.result as unknown[]).length;
    });
    assert.deepEqual(problems, []);
    assert.ok(logs > 0, "the chain has logs");
  });

  test("rejects a malformed block, receipt and log", async () => {
    const block = await rpcResult<Record<string, unknown>>(anvil.url, "eth_getBlockByNumber", ["0x1", true]);
    assert.deepEqual(validateResult("eth_getBlockByNumber", block), []);

    const { hash: _hash, ...noHash } = block;
    assert.ok(validateResult("eth_getBlockByNumber", noHash).some((p) => p.includes("hash")));
    // Upper-case hex and a leading zero are not allowed in quantities.
    assert.notDeepEqual(validateResult("eth_getBlockByNumber", { ...block, number: "0x01" }), []);
    assert.notDeepEqual(
      validateResult("eth_getBlockByNumber", { ...block, hash: (block.hash as string).toUpperCase() }),
      [],
    );
    assert.notDeepEqual(validateResult("eth_getBlockByNumber", { ...block, gasUsed: 21000 }), []);
    assert.notDeepEqual(validateResult("eth_getBlockByNumber", "0x1"), []);

    const receipt = await rpcResult<Record<string, unknown>>(anvil.url, "eth_getTransactionReceipt", [
      chain.txs.eip1559[0] as Hex,
    ]);
    assert.deepEqual(validateResult("eth_getTransactionReceipt", receipt), []);
    const extra = validateResult("eth_getTransactionReceipt", { ...receipt, surprise: "0x1" });
    assert.ok(
      extra.some((p) => p.includes("surprise")),
      extra.join("\n"),
    );
    assert.deepEqual(
      validateComponent("Log", { transactionHash: `0x${"ab".repeat(32)}`, logIndex: "0x0" }),
      [],
    );
    assert.notDeepEqual(validateComponent("Log", { logIndex: "0x0" }), []);
    assert.notDeepEqual(validateResult("eth_feeHistory", { oldestBlock: "0x1" }), []);
  });

  test("validates params and reports methods it does not know", () => {
    assert.deepEqual(validateParams("eth_getBlockByNumber", ["latest", false]), []);
    assert.notDeepEqual(validateParams("eth_getBlockByNumber", ["newest", false]), []);
    assert.notDeepEqual(validateParams("eth_getBlockByNumber", ["0x1"]), [], "second param is required");
    assert.notDeepEqual(validateParams("eth_chainId", [1]), [], "too many params");
    assert.deepEqual(validateParams("eth_getLogs", [{ blockHash: `0x${"00".repeat(32)}` }]), []);
    assert.notDeepEqual(validateResult("eth_noSuchMethod", null), []);
  });

  test("documented tolerance: an empty log list is valid (receipts: see the anvil test above)", () => {
    // FilterResults is oneOf [hash32[], Log[]] in the document: [] would match both.
    assert.deepEqual(validateResult("eth_getLogs", []), []);
    assert.notDeepEqual(validateResult("eth_getLogs", [{}]), []);
  });

  test("the document's path: ../shared/spec beside the repository, or $CHAINKEEP_SPEC", () => {
    const saved = process.env.CHAINKEEP_SPEC;
    try {
      delete process.env.CHAINKEEP_SPEC;
      assert.ok(specPath().endsWith("/shared/spec/execution-apis-openrpc.json"), specPath());
      process.env.CHAINKEEP_SPEC = "relative/spec.json";
      assert.equal(specPath(), resolve("relative/spec.json"));
    } finally {
      if (saved === undefined) delete process.env.CHAINKEEP_SPEC;
      else process.env.CHAINKEEP_SPEC = saved;
    }
  });
});
