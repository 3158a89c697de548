/**
 * ChainStore.readBundle refuses lying bundles: real blocks and receipts from anvil (every
 * transaction type the traffic generator sends) pass; each altered copy, committed with a valid
 * checksum so that only the content checks can catch it, is refused with its code.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createMPT } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import { bytesToHex } from "viem";
import {
  type Bundle,
  encodeTransaction,
  FORMAT_VERSION,
  orderedTrieRoot,
  type RpcBlock,
  type RpcReceipt,
} from "../../../src/format/index.ts";
import { ChainStore, FsStore } from "../../../src/store/index.ts";
import { type AnvilInstance, startAnvil } from "../../helpers/anvil.ts";
import { buildVariedChain } from "../../helpers/chain.ts";
import { rpcResult } from "../../helpers/net.ts";

describe("orderedTrieRoot", () => {
  it("equals @ethereumjs/mpt's root for 0 to 1000 values", async () => {
    for (const n of [0, 1, 2, 3, 15, 16, 17, 127, 128, 129, 255, 256, 300, 1000]) {
      const values = Array.from({ length: n }, (_, i) => new Uint8Array(i % 7 === 0 ? 3 : 40).fill(i & 255));
      const trie = await createMPT();
      for (let i = 0; i < n; i++) await trie.put(RLP.encode(i), values[i] as Uint8Array);
      assert.equal(orderedTrieRoot(values), bytesToHex(trie.root()), `${n} values`);
    }
  });
});

describe("ChainStore.readBundle", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let chain: ChainStore;
  const blocks: { block: RpcBlock; receipts: RpcReceipt[] }[] = [];

  before(async () => {
    anvil = await startAnvil();
    const m = await buildVariedChain(anvil, { minBlocks: 12, rounds: 1 });
    for (let h = 0; h <= m.blocks.to; h++) {
      const q = `0x${h.toString(16)}`;
      blocks.push({
        block: await rpcResult<RpcBlock>(anvil.url, "eth_getBlockByNumber", [q, true]),
        receipts: await rpcResult<RpcReceipt[]>(anvil.url, "eth_getBlockReceipts", [q]),
      });
    }
    dir = await mkdtemp(join(tmpdir(), "chainkeep-chain-"));
    chain = new ChainStore(new FsStore({ dir }), "primary", anvil.chainId);
  });
  after(async () => {
    await anvil?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const bundleOf = (i: number): Bundle =>
    structuredClone({
      version: FORMAT_VERSION,
      chainId: anvil.chainId,
      block: blocks[i]?.block as RpcBlock,
      receipts: blocks[i]?.receipts as RpcReceipt[],
      diff: { accounts: {}, storage: {}, codes: {} },
    });
  let ts = 1;
  const roundTrip = async (b: Bundle) =>
    chain.readBundle(await chain.commit(b, ts++, { safe: 0, finalized: 0 }));
  /** The first block with a transaction that emitted a log. */
  const withLogs = () => blocks.findIndex((b) => b.receipts.some((r) => r.logs.length > 0));

  it("accepts every real block, and the body roots are the header's", async () => {
    let txs = 0;
    for (let i = 0; i < blocks.length; i++) {
      const b = await roundTrip(bundleOf(i));
      txs += b.block.transactions.length;
      assert.equal(orderedTrieRoot(b.block.transactions.map(encodeTransaction)), b.block.transactionsRoot);
    }
    assert.ok(txs >= 10, `${txs} transactions`);
  });

  it("refuses a transaction whose fields were changed but not its hash", async () => {
    const b = bundleOf(withLogs());
    const tx = b.block.transactions[0] as Record<string, unknown>;
    tx.value = `0x${(BigInt(tx.value as string) + 1n).toString(16)}`;
    await assert.rejects(roundTrip(b), { code: "BUNDLE_ROOT_MISMATCH" });
  });

  it("refuses a changed log, a changed receipt status and reordered transactions", async () => {
    const i = withLogs();
    const log = bundleOf(i);
    const r = log.receipts.find((x) => x.logs.length > 0) as RpcReceipt;
    (r.logs[0] as { data: string }).data = "0x01";
    await assert.rejects(roundTrip(log), { code: "BUNDLE_ROOT_MISMATCH" });

    const status = bundleOf(i);
    const r0 = status.receipts[0] as Record<string, unknown>;
    r0.status = r0.status === "0x1" ? "0x0" : "0x1";
    await assert.rejects(roundTrip(status), { code: "BUNDLE_ROOT_MISMATCH" });

    const many = blocks.findIndex((x) => x.block.transactions.length >= 2);
    if (many >= 0) {
      const swapped = bundleOf(many);
      swapped.block.transactions.reverse();
      swapped.receipts.reverse();
      await assert.rejects(roundTrip(swapped), { code: "BUNDLE_FORMAT" });
    }
  });

  it("refuses receipt and log fields the roots do not cover when they contradict the block", async () => {
    const i = withLogs();
    const gas = bundleOf(i);
    const g = gas.receipts[0] as Record<string, unknown>;
    g.gasUsed = `0x${(BigInt(g.gasUsed as string) + 1n).toString(16)}`;
    await assert.rejects(roundTrip(gas), { code: "BUNDLE_FORMAT" });

    const from = bundleOf(i);
    (from.receipts[0] as Record<string, unknown>).from = "0x000000000000000000000000000000000000dead";
    await assert.rejects(roundTrip(from), { code: "BUNDLE_FORMAT" });

    const logIndex = bundleOf(i);
    const lr = logIndex.receipts.find((x) => x.logs.length > 0) as RpcReceipt;
    (lr.logs[0] as { logIndex: string }).logIndex = "0x63";
    await assert.rejects(roundTrip(logIndex), { code: "BUNDLE_FORMAT" });
  });
});
