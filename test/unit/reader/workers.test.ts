import assert from "node:assert/strict";
import cluster from "node:cluster";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { MemoryBus } from "../../../src/bus/index.ts";
import { TrafficGenerator } from "../../../src/demo/index.ts";
import { type RunningReader, type RunningWriter, startReader, startWriter } from "../../../src/node/index.ts";
import { FsStore } from "../../../src/store/index.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../../helpers/anvil.ts";
import { rpcResult, waitFor } from "../../helpers/net.ts";

const ACCOUNT = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

/** Sum of a Prometheus counter's samples whose labels contain `match`. */
function sample(text: string, name: string, match = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || !line.includes(match)) continue;
    if (line[name.length] !== "{" && line[name.length] !== " ") continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

describe("a reader serving RPC from worker processes", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: RunningWriter;
  let reader: RunningReader;
  let url: string;
  let gen: TrafficGenerator;
  const logger = silentLogger();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-workers-"));
    anvil = await startAnvil();
    gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    await gen.deploy();
    await gen.round();
    await gen.settle();
    const store = new FsStore({ dir: join(dir, "store") });
    const bus = new MemoryBus();
    writer = await startWriter(
      { upstream: [anvil.url], store: "", prefix: "primary", pollInterval: 50 },
      { logger, store, bus },
    );
    reader = await startReader(
      { store: "", dataDir: join(dir, "r"), rpcPort: 0, prefix: "primary", pollInterval: 50, workers: 2 },
      { logger, store, bus },
    );
    url = `http://127.0.0.1:${reader.port}/`;
    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    await reader.replicator.waitFor(head, 30_000);
  });

  after(async () => {
    await reader?.close();
    await writer?.close();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("workers serve, this process replicates", async () => {
    assert.equal(reader.server, undefined);
    assert.equal(reader.workers?.size, 2);
    const head = await rpcResult<string>(anvil.url, "eth_blockNumber");
    await waitFor(async () => (await rpcResult<string>(url, "eth_blockNumber")) === head, {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: "workers to see the head",
    });
    for (let i = 0; i < 10; i++) {
      assert.equal(
        await rpcResult(url, "eth_getBalance", [ACCOUNT, head]),
        await rpcResult(anvil.url, "eth_getBalance", [ACCOUNT, head]),
      );
    }
    const health = await fetch(`http://127.0.0.1:${reader.port}/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { height: number }).height, Number(head));
  });

  test("/metrics covers every process: the replicator's and each worker's", async () => {
    const metrics = async () => (await fetch(`http://127.0.0.1:${reader.port}/metrics`)).text();
    const before = sample(await metrics(), "chainkeep_rpc_requests_total", 'method="eth_chainId"');
    // New connections each time: the primary spreads connections over the workers.
    for (let i = 0; i < 20; i++) {
      const r = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", connection: "close" },
        body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
      });
      await r.text();
    }
    const text = await metrics();
    assert.equal(sample(text, "chainkeep_rpc_requests_total", 'method="eth_chainId"') - before, 20);
    assert.equal(sample(text, "chainkeep_reader_height"), reader.replicator.status().height);
  });

  test("subscriptions on a worker get the blocks the primary applies", async () => {
    const ws = new WebSocket(url.replace("http", "ws"));
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const heads: string[] = [];
    const subscribed = new Promise<void>((resolve) => {
      ws.on("message", (d) => {
        const m = JSON.parse(d.toString()) as { id?: number; params?: { result: { hash: string } } };
        if (m.id === 1) resolve();
        else if (m.params) heads.push(m.params.result.hash);
      });
    });
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
    await subscribed;
    await gen.round();
    await gen.settle();
    const head = await rpcResult<{ hash: string }>(anvil.url, "eth_getBlockByNumber", ["latest", false]);
    await waitFor(async () => heads.includes(head.hash), {
      timeoutMs: 15_000,
      intervalMs: 20,
      what: "the new head over the worker's subscription",
    });
    // A subscriber that asks right away gets the block it was told about.
    const got = await rpcResult<{ hash: string }>(url, "eth_getBlockByHash", [head.hash, false]);
    assert.equal(got.hash, head.hash);
    ws.close();
  });

  test("a worker that dies is replaced; the others serve meanwhile", async () => {
    const [victim] = Object.values(cluster.workers ?? {});
    assert.ok(victim);
    const exited = new Promise((r) => victim.once("exit", r));
    victim.process.kill("SIGKILL");
    await exited;
    assert.equal(await rpcResult(url, "eth_chainId"), "0x7a69");
    await waitFor(
      async () => reader.workers?.ready === 2 && Object.keys(cluster.workers ?? {}).length === 2,
      {
        timeoutMs: 20_000,
        intervalMs: 50,
        what: "a replacement worker",
      },
    );
    assert.equal(await rpcResult(url, "eth_chainId"), "0x7a69");
  });

  test("close stops the workers", async () => {
    const workers = reader.workers;
    await reader.close();
    assert.equal(workers?.size, 0);
    await assert.rejects(fetch(url, { method: "POST", body: "{}" }));
    reader = undefined as unknown as RunningReader;
  });
});
