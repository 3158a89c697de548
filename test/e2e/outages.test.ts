/**
 * Outages of the bus and of the object store during a busy chain (S3 via s3rver, NATS JetStream,
 * writer and reader as processes configured by a YAML file):
 *
 * 1. nats-server killed for 20 s: the reader keeps converging by polling the store; the writer
 *    keeps committing; both reconnect by themselves.
 * 2. s3rver stopped for 20 s: the writer stalls (no block skipped, no head record without its
 *    bundle) and retries without crashing; the reader keeps serving what it applied.
 *
 * Then everything converges and every height matches anvil; the logs say what happened.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { clusterStoreAndBus, loadConfig } from "../../src/config/index.ts";
import { TrafficGenerator } from "../../src/demo/index.ts";
import { ChainStore, openStore } from "../../src/store/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { answerDifferences } from "../helpers/compare.ts";
import { type MultiChainCluster, startMultiChainCluster } from "../helpers/multichain.ts";
import { rpcResult, waitFor } from "../helpers/net.ts";

const OUTAGE_MS = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("outages: NATS down 20 s, then S3 down 20 s, during a busy chain", () => {
  let c: MultiChainCluster;
  let gen: TrafficGenerator;
  const abort = new AbortController();
  let traffic: Promise<unknown>;
  let readerUrl: string;
  let anvilUrl: string;

  const readerHeight = async () => Number(await rpcResult<string>(readerUrl, "eth_blockNumber"));
  const anvilHeight = async () => Number(await rpcResult<string>(anvilUrl, "eth_blockNumber"));
  const writerStatus = async () =>
    (await (await fetch(`http://127.0.0.1:${c.writerStatusPorts[0]}/status`)).json()) as {
      height: number;
      storeUnavailable?: boolean;
    };
  const log = (name: string) => readFileSync(c.logFile(name), "utf8");

  before(async () => {
    c = await startMultiChainCluster({ chains: 1, blockTime: 1, crossCheck: "sample" });
    readerUrl = c.readerUrls[0] as string;
    anvilUrl = (c.anvils[0] as { url: string }).url;
    gen = new TrafficGenerator(
      { rpcUrl: anvilUrl, chainId: c.chainIds[0] as number },
      { logger: silentLogger() },
    );
    await gen.deploy();
    traffic = gen.run({ intervalMs: 300, signal: abort.signal }).catch(() => {});
    await waitFor(async () => (await readerHeight()) >= 5, {
      timeoutMs: 60_000,
      what: "the reader at height 5",
    });
  });

  after(async () => {
    abort.abort();
    await traffic;
    await c?.stop();
  });

  test("with NATS down the reader keeps converging by polling the store", async () => {
    await c.nats.stop();
    const t0 = Date.now();
    const first = await readerHeight();
    await sleep(OUTAGE_MS - 3_000);
    const last = await readerHeight();
    // Blocks every second; the reader polls the store every second.
    assert.ok(last >= first + 8, `reader went from ${first} to ${last} with NATS down`);
    assert.ok((await anvilHeight()) - last <= 5, "the reader stays near the head");
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - t0)));
    await c.nats.start();
    assert.ok(c.alive(), c.diagnostics());
  });

  test("with S3 down the writer stalls without skipping and the reader serves what it has", async () => {
    // Let the bus settle after its restart, so that the two outages are told apart in the logs.
    await sleep(5_000);
    await c.s3.stop();
    const t0 = Date.now();
    await sleep(8_000);
    const w1 = await writerStatus();
    const r1 = await readerHeight();
    const served = await rpcResult<{ hash: string }>(readerUrl, "eth_getBlockByNumber", [
      `0x${r1.toString(16)}`,
      false,
    ]);
    const upstream = await rpcResult<{ hash: string }>(anvilUrl, "eth_getBlockByNumber", [
      `0x${r1.toString(16)}`,
      false,
    ]);
    assert.equal(served.hash, upstream.hash, "the reader serves its blocks during the outage");
    await sleep(OUTAGE_MS - (Date.now() - t0) - 2_000);
    const w2 = await writerStatus();
    const r2 = await readerHeight();
    assert.equal(w2.height, w1.height, "the writer commits nothing while the store is down");
    assert.equal(w2.storeUnavailable, true, "the writer reports the store unavailable");
    assert.equal(r2, r1, "the reader cannot apply what is not in the store");
    assert.ok(r2 <= w2.height);
    assert.ok((await anvilHeight()) >= w2.height + 8, "the chain moved on meanwhile");
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - t0)));
    await c.s3.start();
    assert.ok(c.alive(), `a process died during the store outage\n${c.diagnostics()}`);
  });

  test("everything converges: every height matches anvil, every head record has its bundle", async () => {
    await waitFor(async () => (await writerStatus()).storeUnavailable === false, {
      timeoutMs: 60_000,
      what: "the writer to resume",
    });
    abort.abort();
    await traffic;
    await gen.settle();
    const head = await c.waitSynced(0, 120_000);
    const m = gen.manifest();
    const accounts = [...new Set([...m.accounts, ...Object.values(m.contracts ?? {})])].slice(0, 12);
    const diffs = await answerDifferences(readerUrl, anvilUrl, { head, accounts, tip: false });
    assert.deepEqual(diffs.slice(0, 20), [], `${diffs.length} differences`);

    // The store itself: a canonical head record at every height, each with its (verified) bundle.
    const { store: spec } = clusterStoreAndBus(loadConfig(c.configFile));
    const store = openStore(spec as NonNullable<typeof spec>, { logger: silentLogger() });
    try {
      const chain = new ChainStore(store, "primary", c.chainIds[0] as number);
      const refs = await chain.listHeads(0, 1_000_000);
      const heights = new Set(refs.map((r) => r.height));
      for (let h = 0; h <= head; h++) assert.ok(heights.has(h), `no head record at ${h}`);
      for (const ref of refs) await chain.readBundle(await chain.readHead(ref));
    } finally {
      await store.close();
    }
    assert.ok(c.alive(), c.diagnostics());
  });

  test("the logs say what happened", (t) => {
    const writer = log("writer-beacon");
    const reader = log("reader-1");
    // The story, for whoever reads the test output: each process's warnings and errors, in order.
    for (const [who, text] of [
      ["writer", writer],
      ["reader", reader],
    ] as const) {
      let previous = "";
      for (const line of text.split("\n")) {
        const m = /"time":(\d+).*"msg":"([^"]*)"/.exec(line);
        if (!m || m[2] === previous) continue;
        previous = m[2] as string;
        t.diagnostic(`${new Date(Number(m[1])).toISOString().slice(11, 23)} ${who}: ${m[2]}`);
      }
    }
    const has = (text: string, re: RegExp, who: string) =>
      assert.match(text, re, `${who} log lacks ${re}\n${text.slice(-4000)}`);
    // NATS outage.
    has(reader, /disconnected from NATS; reconnecting/, "reader");
    has(reader, /reconnected to NATS/, "reader");
    has(writer, /notice not published; readers will find the block by polling the store/, "writer");
    has(writer, /publishing notices again/, "writer");
    // S3 outage.
    has(writer, /S3 API unavailable/, "writer");
    has(
      writer,
      /object store unreachable: writer stalled, retrying until it is back \(no block is skipped\)/,
      "writer",
    );
    has(writer, /object store reachable again: writer resumed/, "writer");
    has(reader, /object store unreachable: serving the blocks applied so far/, "reader");
    has(reader, /object store reachable again: replication resumed/, "reader");
  });
});
