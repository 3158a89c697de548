import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encodeFunctionData } from "viem";
import WebSocket from "ws";
import { CONTRACTS, TrafficGenerator } from "../../src/demo/index.ts";
import { ChainStore, FsStore } from "../../src/store/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { type ChainkeepProcess, spawnChainkeep } from "../helpers/cluster.ts";
import { assertSameAnswers, touchedAccounts } from "../helpers/compare.ts";
import { freePort, rpc, rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const logger = silentLogger();
const ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const q = (h: number) => `0x${h.toString(16)}`;

interface Log {
  blockHash: string;
  blockNumber: string;
  logIndex: string;
  removed: boolean;
}

/**
 * Reorgs made with anvil_reorg / anvil_rollback on a chain with contract traffic; after each, the
 * reader answers as anvil at every height, `logs` subscribers got the orphaned logs again with
 * `removed: true`, and `newHeads` subscribers got the new canonical heads in order. The writer
 * and the reader are `chainkeep` processes (the reader with RPC worker processes and --admin, for
 * its status).
 */
describe("reader: unwinds orphaned blocks and applies the canonical branch", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: ChainkeepProcess;
  let reader: ChainkeepProcess;
  let statusPort: number;
  let chain: ChainStore;
  let url: string;
  let token: string;
  let accounts: string[];
  let slots: [string, string][];
  const logNotices: Log[] = [];
  const headNotices: { number: string; hash: string }[] = [];
  let ws: WebSocket;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-rreorg-"));
    anvil = await startAnvil();
    const gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    token = (await gen.deploy()).token;
    for (let r = 0; r < 3; r++) await gen.round();
    await gen.settle();
    // At least 80 blocks, so that a 66-block reorg fits above the contracts.
    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    if (head < 80) await anvil.rpc("anvil_mine", [q(80 - head)]);
    const store = join(dir, "store");
    chain = new ChainStore(new FsStore({ dir: store }), "primary", anvil.chainId);
    statusPort = await freePort();
    writer = spawnChainkeep("writer", [
      "writer",
      "--upstream",
      anvil.wsUrl,
      "--store",
      store,
      "--poll-interval",
      "50",
      "--cross-check",
      "always",
      "--status-port",
      String(statusPort),
    ]);
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    reader = spawnChainkeep("reader", [
      "reader",
      "--store",
      store,
      "--data-dir",
      join(dir, "r"),
      "--rpc-port",
      String(port),
      "--upstream",
      anvil.url,
      "--poll-interval",
      "50",
      "--history",
      "archive",
      "--workers",
      "2",
      "--admin",
    ]);
    await waitFor(async () => (await rpc(url, "eth_chainId")).result !== undefined, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `the reader serving\n${reader.output()}`,
    });
    await synced();
    accounts = await touchedAccounts(
      anvil.url,
      Number(await rpcResult<string>(anvil.url, "eth_blockNumber")),
    );
    const codes = await rpcBatch(
      anvil.url,
      accounts.map((a) => ({ method: "eth_getCode", params: [a, "latest"] })),
    );
    slots = accounts
      .filter((_, i) => codes[i]?.result !== "0x")
      .flatMap((a) => [0, 1, 2, 3].map((s): [string, string] => [a, q(s)]));
    ws = new WebSocket(url.replace("http", "ws"));
    await new Promise((r) => ws.once("open", r));
    const subs = new Map<string, "logs" | "newHeads">();
    const subscribe = (id: number, params: unknown[]) =>
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method: "eth_subscribe", params }));
    ws.on("message", (d) => {
      const m = JSON.parse(d.toString()) as {
        id?: number;
        result?: string;
        params?: { subscription: string; result: Log & { number: string; hash: string } };
      };
      if (m.id !== undefined && m.result) subs.set(m.result, m.id === 1 ? "logs" : "newHeads");
      if (!m.params) return;
      if (subs.get(m.params.subscription) === "logs") logNotices.push(m.params.result);
      else headNotices.push({ number: m.params.result.number, hash: m.params.result.hash });
    });
    subscribe(1, ["logs", { address: token }]);
    subscribe(2, ["newHeads"]);
    await waitFor(async () => subs.size === 2, { what: "subscriptions" });
  });

  after(async () => {
    ws?.close();
    await reader?.stop();
    await writer?.stop();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function anvilHead(): Promise<number> {
    return Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
  }

  async function hashes(top: number): Promise<string[]> {
    const res = await rpcBatch(
      anvil.url,
      Array.from({ length: top + 1 }, (_, h) => ({ method: "eth_getBlockByNumber", params: [q(h), false] })),
    );
    return res.map((r) => (r.result as { hash: string }).hash);
  }

  async function readerStatus(): Promise<{ reorgs: number; refused: number }> {
    return rpcResult(url, "chainkeep_readerStatus");
  }

  /** Waits for anvil to mine a transaction (automine may answer before the block exists). */
  async function mined(hash: string): Promise<void> {
    await waitFor(async () => rpcResult(anvil.url, "eth_getTransactionReceipt", [hash]), {
      timeoutMs: 10_000,
      what: `transaction ${hash} mined`,
    });
  }

  /** Waits until the reader's tip is anvil's head block (same hash); returns the height. */
  async function synced(timeoutMs = 60_000): Promise<number> {
    let head = -1;
    await waitFor(
      async () => {
        head = await anvilHead();
        const want = await rpcResult<{ hash: string }>(anvil.url, "eth_getBlockByNumber", [q(head), false]);
        const [tip, block] = await rpcBatch(url, [
          { method: "eth_blockNumber" },
          { method: "eth_getBlockByNumber", params: [q(head), false] },
        ]);
        return tip?.result === q(head) && (block?.result as { hash: string } | null)?.hash === want.hash;
      },
      { timeoutMs, intervalMs: 50, what: "reader at anvil's head" },
    );
    return head;
  }

  /**
   * Runs `reorg` on anvil, then checks the reader: same answers as anvil at every height, the
   * orphaned token logs re-sent with removed: true, the new heads sent in height order.
   */
  async function reorgAndCheck(reorg: () => Promise<void>): Promise<{ fork: number; head: number }> {
    // A token transfer in the newest block, so that the reorg orphans a log.
    const data = encodeFunctionData({ abi: CONTRACTS.Token.abi, functionName: "transfer", args: [BOB, 7n] });
    await mined(
      await rpcResult<string>(anvil.url, "eth_sendTransaction", [{ from: ALICE, to: token, data }]),
    );
    await synced();
    const topBefore = await anvilHead();
    const old = await hashes(topBefore);
    const oldLogs = await rpcResult<Log[]>(anvil.url, "eth_getLogs", [
      { fromBlock: "0x0", toBlock: q(topBefore), address: token },
    ]);
    const logMark = logNotices.length;
    const headMark = headNotices.length;
    const reorgsBefore = (await readerStatus()).reorgs;
    await reorg();
    const head = await synced(120_000);
    const now = await hashes(head);
    let fork = 0;
    while (fork <= Math.min(head, topBefore) && now[fork] === old[fork]) fork++;
    const status = await readerStatus();
    assert.ok(status.reorgs > reorgsBefore, "the reader followed a reorg");
    assert.equal(status.refused, 0, "no bundle refused");
    await assertSameAnswers(url, anvil.url, { head, accounts, slots });
    // Subscribers: every orphaned token log again, removed; the new heads, in order.
    const orphaned = oldLogs.filter((l) => Number(l.blockNumber) >= fork);
    const key = (l: Log) => `${l.blockHash}:${l.logIndex}`;
    await waitFor(
      async () => {
        const removed = new Set(
          logNotices
            .slice(logMark)
            .filter((l) => l.removed)
            .map(key),
        );
        return orphaned.every((l) => removed.has(key(l)));
      },
      {
        timeoutMs: 10_000,
        what: `${orphaned.length} removed logs: ${JSON.stringify(orphaned)} ${JSON.stringify(logNotices.slice(logMark))}`,
      },
    );
    for (const l of logNotices.slice(logMark)) {
      if (l.removed) assert.ok(Number(l.blockNumber) >= fork, "only orphaned logs are removed");
    }
    const newHeads = now.slice(fork, head + 1);
    if (newHeads.length === 0) newHeads.push(now[head] as string); // a shorter chain: its new head
    await waitFor(
      async () => {
        const seen = headNotices.slice(headMark).map((h) => h.hash);
        // In order: each new head after the previous one.
        let at = -1;
        for (const h of newHeads) {
          at = seen.indexOf(h, at + 1);
          if (at < 0) return false;
        }
        return true;
      },
      { timeoutMs: 10_000, what: "the new heads" },
    );
    return { fork, head };
  }

  const tx = (n: number) => ({ from: ALICE, to: BOB, value: q(5000 + n) });

  for (const depth of [1, 2, 5, 30, 64]) {
    test(`a reorg of depth ${depth} with new transactions in the replacement blocks`, async () => {
      const { fork, head } = await reorgAndCheck(async () => {
        await anvil.rpc("anvil_reorg", [
          depth,
          [
            [tx(depth), 0],
            [tx(depth + 1), depth - 1],
          ],
        ]);
      });
      assert.equal(head - fork + 1, depth);
    });
  }

  test("a reorg that removes a contract deployment", async () => {
    const hash = await rpcResult<string>(anvil.url, "eth_sendTransaction", [
      { from: ALICE, data: CONTRACTS.Store.bytecode },
    ]);
    await mined(hash);
    const receipt = await rpcResult<{ contractAddress: string }>(anvil.url, "eth_getTransactionReceipt", [
      hash,
    ]);
    const created = receipt.contractAddress.toLowerCase();
    await synced();
    const code = await rpcResult<string>(url, "eth_getCode", [created, "latest"]);
    assert.notEqual(code, "0x", "the reader holds the new contract");
    accounts.push(created);
    slots.push([created, "0x0"], [created, "0x1"]);
    await reorgAndCheck(async () => {
      await anvil.rpc("anvil_reorg", [2, [[tx(77), 0]]]);
    });
    assert.equal(await rpcResult<string>(url, "eth_getCode", [created, "latest"]), "0x");
    const gone = await rpcBatch(url, [
      { method: "eth_getTransactionByHash", params: [hash] },
      { method: "eth_getTransactionReceipt", params: [hash] },
    ]);
    assert.deepEqual(
      gone.map((r) => r.result),
      [null, null],
    );
  });

  test("two reorgs in quick succession", async () => {
    await reorgAndCheck(async () => {
      await anvil.rpc("anvil_reorg", [3, [[tx(300), 0]]]);
      await anvil.rpc("anvil_reorg", [6, [[tx(301), 1]]]);
    });
  });

  test("a reorg to a shorter chain: the old branch's records above the new head are never served", async () => {
    let top = 0;
    const { head } = await reorgAndCheck(async () => {
      top = await anvilHead();
      await anvil.rpc("anvil_rollback", [3]);
    });
    assert.equal(head, top - 3);
    // The store still has the orphaned records above the new head; the reader stays below them.
    const refs = await chain.listHeads(head + 1, 100);
    assert.ok(refs.length > 0, "orphaned head records remain in the store");
    assert.equal(await rpcResult<string>(url, "eth_blockNumber"), q(head));
    // The chain grows past them again: the reader follows.
    await anvil.rpc("anvil_mine", ["0x5"]);
    await synced();
    await assertSameAnswers(url, anvil.url, { head: await anvilHead(), accounts, slots });
  });

  test("a reorg deeper than reorgMax: served as committed while the writer halts, followed once resumed", async () => {
    const before = await anvilHead();
    const committed = await hashes(before);
    await reorgAndCheck(async () => {
      await anvil.rpc("anvil_reorg", [66, [[tx(900), 0]]]);
      await waitFor(
        async () =>
          ((await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json()) as { halted?: unknown })
            .halted,
        { timeoutMs: 60_000, what: "writer halts" },
      );
      // The reader keeps the committed chain: nothing new was committed.
      const tip = await rpcResult<{ hash: string }>(url, "eth_getBlockByNumber", [q(before), false]);
      assert.equal(tip.hash, committed[before]);
      const resume = spawnChainkeep("resume-writer", ["resume-writer", "--status-port", String(statusPort)]);
      await waitFor(async () => resume.exited(), { timeoutMs: 30_000, what: "resume-writer" });
      assert.match(resume.output(), /writer resumed/);
    });
  });
});
