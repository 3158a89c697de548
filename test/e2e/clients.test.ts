/**
 * Real client libraries against a chainkeep reader: viem and ethers v6 make the same calls to the
 * reader and to anvil (its upstream), and the decoded answers must be equal. This catches what a
 * raw JSON comparison cannot: how libraries probe a node (chain id checks, fee estimation, block
 * polling, subscriptions) and whether they accept its answers.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Contract, JsonRpcProvider, Network, WebSocketProvider } from "ethers";
import {
  type Address,
  type Block,
  createPublicClient,
  encodeFunctionData,
  http,
  type PublicClient,
  parseAbi,
  parseAbiItem,
  webSocket,
} from "viem";
import { anvil as anvilChain } from "viem/chains";
import { TrafficGenerator } from "../../src/demo/index.ts";
import type { Hex } from "../../src/util/hex.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { buildVariedChain, type VariedChainManifest } from "../helpers/chain.ts";
import { type Cluster, startCluster } from "../helpers/cluster.ts";

/** The part of `contracts/Token.sol`'s ABI used here, typed for viem and readable by ethers. */
const TOKEN_SIGNATURES = [
  "function balanceOf(address account) view returns (uint256)",
  "function totalSupply() view returns (uint256)",
  "function name() view returns (string)",
  "function symbol() view returns (string)",
  "function transfer(address to, uint256 amount) returns (bool)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
] as const;
const TOKEN_ABI = parseAbi(TOKEN_SIGNATURES);
const TRANSFER_EVENT = parseAbiItem(TOKEN_SIGNATURES[5]);

/** Waits until `cond` holds, polling every 25 ms; throws after `timeoutMs`. */
async function waitUntil(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** ethers' result objects hold a provider reference: compare their JSON form. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `bigint:${v.toString()}` : v)),
  ) as unknown;
}

describe("client libraries: viem and ethers v6 see the reader as they see anvil", () => {
  let c: Cluster;
  let chain: VariedChainManifest;
  let head: number;
  let holders: Address[];
  let txHashes: Hex[];

  before(async () => {
    c = await startCluster();
    chain = await buildVariedChain(c.anvil, { rounds: 2, minBlocks: 20 });
    head = await c.waitSynced(60_000);
    holders = chain.accounts.slice(0, 4);
    txHashes = [...chain.txs.erc20, ...chain.txs.deploy, ...chain.txs.reverted, ...chain.txs.legacy];
  });

  after(async () => {
    await c?.stop();
  });

  describe("viem", () => {
    let onAnvil: PublicClient;
    let onReader: PublicClient;
    before(() => {
      onAnvil = createPublicClient({ chain: anvilChain, transport: http(c.anvil.url) }) as PublicClient;
      onReader = createPublicClient({ chain: anvilChain, transport: http(c.readerUrl) }) as PublicClient;
    });

    /** Runs `f` on both clients and asserts the answers (or the error names) are equal. */
    async function same<T>(what: string, f: (client: PublicClient) => Promise<T>): Promise<T> {
      const settle = (p: Promise<T>) =>
        p.then(
          (value) => ({ value }),
          (err: Error) => ({ error: `${err.name}: ${(err as { shortMessage?: string }).shortMessage}` }),
        );
      const [a, r] = await Promise.all([settle(f(onAnvil)), settle(f(onReader))]);
      assert.deepStrictEqual(r, a, what);
      assert.ok("value" in r, `${what}: ${JSON.stringify(plain(r))}`);
      return r.value as T;
    }

    test("getBlock: by number, by hash, latest, with transactions", async () => {
      for (const n of [0n, 1n, BigInt(head >> 1), BigInt(head)]) {
        const b = await same(`block ${n}`, (x) => x.getBlock({ blockNumber: n }));
        await same(`block ${b.hash}`, (x) =>
          x.getBlock({ blockHash: b.hash as Hex, includeTransactions: true }),
        );
      }
      await same("latest", (x) => x.getBlock());
      await same("safe", (x) => x.getBlock({ blockTag: "safe" }));
      await same("earliest with txs", (x) => x.getBlock({ blockTag: "earliest", includeTransactions: true }));
      assert.equal(await onReader.getBlockNumber({ cacheTime: 0 }), BigInt(head));
    });

    test("getTransactionReceipt and getTransaction", async () => {
      for (const hash of txHashes) {
        await same(`receipt ${hash}`, (x) => x.getTransactionReceipt({ hash }));
        await same(`tx ${hash}`, (x) => x.getTransaction({ hash }));
      }
    });

    test("getLogs with an event filter and a block range", async () => {
      const logs = await same("Transfer logs", (x) =>
        x.getLogs({
          address: chain.contracts.token,
          event: TRANSFER_EVENT,
          fromBlock: 0n,
          toBlock: BigInt(head),
        }),
      );
      assert.ok(logs.length > 0);
      await same("Transfer logs from a holder", (x) =>
        x.getLogs({
          address: chain.contracts.token,
          event: TRANSFER_EVENT,
          args: { from: holders[0] },
          fromBlock: 1n,
        }),
      );
      await same("every log", (x) => x.getLogs({ fromBlock: "earliest", toBlock: "latest" }));
    });

    test("readContract on Token, estimateGas, getBalance at a past block", async () => {
      for (const h of holders) {
        await same(`balanceOf ${h}`, (x) =>
          x.readContract({
            address: chain.contracts.token,
            abi: TOKEN_ABI,
            functionName: "balanceOf",
            args: [h],
          }),
        );
        await same(`balanceOf ${h} at ${head >> 1}`, (x) =>
          x.readContract({
            address: chain.contracts.token,
            abi: TOKEN_ABI,
            functionName: "balanceOf",
            args: [h],
            blockNumber: BigInt(head >> 1),
          }),
        );
      }
      await same("symbol", (x) =>
        x.readContract({ address: chain.contracts.token, abi: TOKEN_ABI, functionName: "symbol" }),
      );
      const [from, to] = holders as [Address, Address];
      await same("estimateGas token transfer", (x) =>
        x.estimateGas({
          account: from,
          to: chain.contracts.token,
          data: encodeFunctionData({ abi: TOKEN_ABI, functionName: "transfer", args: [to, 5n] }),
        }),
      );
      await same("estimateGas ETH transfer", (x) => x.estimateGas({ account: from, to, value: 1n }));
      for (const n of [1n, BigInt(head >> 2), BigInt(head >> 1), BigInt(head - 1)]) {
        for (const a of holders)
          await same(`balance ${a} at ${n}`, (x) => x.getBalance({ address: a, blockNumber: n }));
      }
      await same("gas price", (x) => x.getGasPrice());
      await same("fees", (x) => x.estimateFeesPerGas());
    });

    test("watchBlocks over WebSocket delivers the same blocks", async () => {
      const wsAnvil = createPublicClient({ chain: anvilChain, transport: webSocket(c.anvil.wsUrl) });
      const wsReader = createPublicClient({ chain: anvilChain, transport: webSocket(c.readerWsUrl) });
      const seen = { anvil: new Map<bigint, Block>(), reader: new Map<bigint, Block>() };
      const errors: Error[] = [];
      const stops = [
        wsAnvil.watchBlocks({ onBlock: (b) => seen.anvil.set(b.number, b), onError: (e) => errors.push(e) }),
        wsReader.watchBlocks({
          onBlock: (b) => seen.reader.set(b.number, b),
          onError: (e) => errors.push(e),
        }),
      ];
      try {
        // Let both subscriptions be established before the blocks come.
        await new Promise((r) => setTimeout(r, 300));
        const gen = new TrafficGenerator(
          { rpcUrl: c.anvil.url, chainId: c.anvil.chainId, contracts: chain.contracts },
          { logger: silentLogger() },
        );
        // One transaction at a time: a block each on automine anvil.
        for (let i = 0; i < 3; i++) await gen.sendBatch(1, { wait: true });
        head = await c.waitSynced(30_000);
        await waitUntil(() => seen.anvil.has(BigInt(head)), "anvil's blocks");
        const wanted = [...seen.anvil.keys()].filter((n) => n <= BigInt(head));
        assert.ok(wanted.length >= 3, `anvil delivered ${wanted.length} blocks`);
        await waitUntil(() => wanted.every((n) => seen.reader.has(n)), "the reader's blocks");
        for (const n of wanted) assert.deepStrictEqual(seen.reader.get(n), seen.anvil.get(n), `block ${n}`);
        assert.deepEqual(errors, []);
      } finally {
        for (const stop of stops) stop();
        await Promise.all([wsAnvil.transport.getRpcClient(), wsReader.transport.getRpcClient()]).then(
          (clients) =>
            clients.forEach((rpc) => {
              rpc.close();
            }),
        );
      }
    });
  });

  describe("ethers v6", () => {
    const network = Network.from(31337);
    let onAnvil: JsonRpcProvider;
    let onReader: JsonRpcProvider;
    before(() => {
      onAnvil = new JsonRpcProvider(c.anvil.url, network, { staticNetwork: network });
      onReader = new JsonRpcProvider(c.readerUrl, network, { staticNetwork: network });
    });
    after(() => {
      onAnvil?.destroy();
      onReader?.destroy();
    });

    test("JsonRpcProvider: getBlock, getLogs, Contract call, getFeeData", async () => {
      // The reader's chain id, as ethers detects it.
      const detecting = new JsonRpcProvider(c.readerUrl);
      const detected = await detecting.getNetwork().finally(() => detecting.destroy());
      assert.equal(detected.chainId, 31337n);
      for (const tag of [0, 1, head >> 1, head, "latest", "earliest", "safe", "finalized"] as const) {
        const [a, r] = await Promise.all([onAnvil.getBlock(tag, true), onReader.getBlock(tag, true)]);
        assert.deepStrictEqual(plain(r), plain(a), `block ${tag}`);
        assert.ok(r);
        const [ta, tr] = await Promise.all([
          Promise.all(r.transactions.map((h) => onAnvil.getTransaction(h))),
          Promise.all(r.transactions.map((h) => onReader.getTransaction(h))),
        ]);
        assert.deepStrictEqual(plain(tr), plain(ta), `txs of ${tag}`);
      }
      const filter = { address: chain.contracts.token, fromBlock: 0, toBlock: head };
      const [la, lr] = await Promise.all([onAnvil.getLogs(filter), onReader.getLogs(filter)]);
      assert.ok(la.length > 0);
      assert.deepStrictEqual(plain(lr), plain(la));

      const tokenOn = (p: JsonRpcProvider) => new Contract(chain.contracts.token, [...TOKEN_SIGNATURES], p);
      for (const h of holders) {
        const [a, r] = await Promise.all([
          tokenOn(onAnvil).getFunction("balanceOf")(h),
          tokenOn(onReader).getFunction("balanceOf")(h),
        ]);
        assert.equal(r, a, `balanceOf ${h}`);
        const past = { blockTag: head >> 1 };
        const [pa, pr] = await Promise.all([
          tokenOn(onAnvil).getFunction("balanceOf")(h, past),
          tokenOn(onReader).getFunction("balanceOf")(h, past),
        ]);
        assert.equal(pr, pa, `balanceOf ${h} at ${head >> 1}`);
      }
      const [na, nr] = await Promise.all([
        tokenOn(onAnvil).getFunction("name")(),
        tokenOn(onReader).getFunction("name")(),
      ]);
      assert.equal(nr, na);

      const [fa, fr] = await Promise.all([onAnvil.getFeeData(), onReader.getFeeData()]);
      assert.deepStrictEqual(plain(fr), plain(fa));
    });

    test("WebSocketProvider: getBlock, getLogs, Contract call, getFeeData, block events", async () => {
      const wsAnvil = new WebSocketProvider(c.anvil.wsUrl, network, { staticNetwork: network });
      const wsReader = new WebSocketProvider(c.readerWsUrl, network, { staticNetwork: network });
      try {
        for (const tag of [1, head, "latest"] as const) {
          const [a, r] = await Promise.all([wsAnvil.getBlock(tag), wsReader.getBlock(tag)]);
          assert.deepStrictEqual(plain(r), plain(a), `block ${tag}`);
        }
        const filter = { address: chain.contracts.token, fromBlock: 0, toBlock: "latest" };
        const [la, lr] = await Promise.all([wsAnvil.getLogs(filter), wsReader.getLogs(filter)]);
        assert.deepStrictEqual(plain(lr), plain(la));
        const tokenOn = (p: WebSocketProvider) =>
          new Contract(chain.contracts.token, [...TOKEN_SIGNATURES], p);
        const [sa, sr] = await Promise.all([
          tokenOn(wsAnvil).getFunction("totalSupply")(),
          tokenOn(wsReader).getFunction("totalSupply")(),
        ]);
        assert.equal(sr, sa);
        const [fa, fr] = await Promise.all([wsAnvil.getFeeData(), wsReader.getFeeData()]);
        assert.deepStrictEqual(plain(fr), plain(fa));

        // "block" events come from the newHeads subscription.
        const blocks = { anvil: new Set<number>(), reader: new Set<number>() };
        await wsAnvil.on("block", (n: number) => blocks.anvil.add(n));
        await wsReader.on("block", (n: number) => blocks.reader.add(n));
        await new Promise((r) => setTimeout(r, 300));
        const gen = new TrafficGenerator(
          { rpcUrl: c.anvil.url, chainId: c.anvil.chainId, contracts: chain.contracts },
          { logger: silentLogger() },
        );
        await gen.sendBatch(2, { wait: true });
        head = await c.waitSynced(30_000);
        await waitUntil(() => blocks.reader.has(head) && blocks.anvil.has(head), "block events");
      } finally {
        await wsAnvil.destroy();
        await wsReader.destroy();
      }
    });
  });
});
