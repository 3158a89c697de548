import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TrafficGenerator } from "../../src/demo/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import {
  type ChainkeepProcess,
  type ReaderProcess,
  runChainkeep,
  spawnChainkeep,
  spawnReader,
  waitReaderAtHead,
} from "../helpers/cluster.ts";
import { assertSameAnswers, touchedAccounts } from "../helpers/compare.ts";
import { rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const logger = silentLogger();
const q = (h: number) => `0x${h.toString(16)}`;
const REORG_MAX = 8;

type Reader = ReaderProcess;

/**
 * Writer failover (NodeX "node switching"): the primary writer stops mid-chain, a standby writes
 * under another prefix, and two readers switch to it (one online through the admin RPC, one
 * stopped, from its data directory). No reader ever serves a block the upstream did not have as
 * canonical, and a writer line that does not link to what a reader holds is refused.
 */
describe("writer failover: readers switch to a standby writer's prefix", () => {
  let anvil: AnvilInstance;
  let other: AnvilInstance;
  let dir: string;
  let store: string;
  let gen: TrafficGenerator;
  const procs: ChainkeepProcess[] = [];
  /** Every (height, hash) a reader answered for `latest`. */
  const served: { reader: string; height: number; hash: string }[] = [];
  let watching = true;
  let watcher: Promise<void> | undefined;
  const readers: Reader[] = [];

  const diagnostics = () =>
    procs.map((p) => `--- ${p.name} (pid ${p.pid}) ---\n${p.output().trim()}`).join("\n");

  function startWriter(prefix: string, upstream: AnvilInstance): ChainkeepProcess {
    const w = spawnChainkeep(`writer-${prefix}`, [
      "writer",
      "--upstream",
      upstream.wsUrl,
      "--store",
      store,
      "--prefix",
      prefix,
      "--poll-interval",
      "100",
      "--reorg-max",
      String(REORG_MAX),
      "--cross-check",
      "sample",
    ]);
    procs.push(w);
    return w;
  }

  async function startReader(name: string, dataDir: string, args: string[] = []): Promise<Reader> {
    return spawnReader({
      name,
      store,
      dataDir,
      upstream: anvil.url,
      args,
      onSpawn: (p) => procs.push(p),
      diagnostics,
    });
  }

  const cli = runChainkeep;

  async function synced(r: Reader, timeoutMs = 90_000): Promise<number> {
    return waitReaderAtHead(r, anvil.url, { timeoutMs, diagnostics });
  }

  /** Records what every running reader serves as `latest`, every 100 ms. */
  async function watch(): Promise<void> {
    while (watching) {
      for (const r of [...readers]) {
        if (r.proc.exited()) continue;
        const b = await rpcResult<{ number: string; hash: string } | null>(r.url, "eth_getBlockByNumber", [
          "latest",
          false,
        ]).catch(() => null);
        if (b) served.push({ reader: r.proc.name, height: Number(b.number), hash: b.hash });
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-failover-"));
    store = join(dir, "store");
    anvil = await startAnvil();
    gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    await gen.deploy();
    for (let r = 0; r < 2; r++) await gen.round();
    await gen.settle();
    startWriter("primary", anvil);
    readers.push(await startReader("reader-1", join(dir, "r1"), ["--workers", "2", "--admin"]));
    readers.push(await startReader("reader-2", join(dir, "r2"), ["--workers", "1"]));
    for (const r of readers) await synced(r);
    watcher = watch();
  });

  after(async () => {
    watching = false;
    await watcher;
    for (const p of [...procs].reverse()) await p.stop();
    await anvil?.stop();
    await other?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("stop the primary mid-chain, start a standby on another prefix, switch both readers", async () => {
    const abort = new AbortController();
    const traffic = gen.run({ intervalMs: 200, signal: abort.signal });
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const primary = procs.find((p) => p.name === "writer-primary") as ChainkeepProcess;
      await primary.stop();
      startWriter("standby", anvil);
      // Reader 1 online, through the admin RPC of its worker processes.
      const r1 = readers[0] as Reader;
      const out = await cli("switch-rpc", ["reader", "switch", "--prefix", "standby", "--rpc", r1.url]);
      assert.ok(out.ok, out.output);
      const reset = JSON.parse(out.output.trim().split("\n")[0] as string) as {
        prefix: string;
        height: number;
      };
      assert.equal(reset.prefix, "standby");
      // Reader 2 stopped: switched on its data directory, then started without --prefix.
      const r2 = readers[1] as Reader;
      await r2.proc.stop();
      const off = await cli("switch-offline", [
        "reader",
        "switch",
        "--prefix",
        "standby",
        "--data-dir",
        r2.dataDir,
      ]);
      assert.ok(off.ok, off.output);
      readers[1] = await startReader("reader-2b", r2.dataDir, ["--workers", "1"]);
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      abort.abort();
      await traffic;
    }
    await gen.settle();
    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    const accounts = (await touchedAccounts(anvil.url, head)).slice(0, 10);
    for (const r of readers) {
      await synced(r);
      await assertSameAnswers(r.url, anvil.url, { head, accounts });
    }
    const status = await rpcResult<{ prefix: string; switch?: unknown; refused: number }>(
      (readers[0] as Reader).url,
      "chainkeep_readerStatus",
    );
    assert.equal(status.prefix, "standby");
    assert.equal(status.switch, undefined);
    assert.equal(status.refused, 0);
    // Everything any reader served as its head was a canonical block of the upstream.
    const canonical = await rpcBatch(
      anvil.url,
      Array.from({ length: head + 1 }, (_, h) => ({ method: "eth_getBlockByNumber", params: [q(h), false] })),
    );
    const hashes = canonical.map((r) => (r.result as { hash: string }).hash);
    assert.ok(served.length > 20, `${served.length} observations`);
    for (const s of served)
      assert.equal(s.hash, hashes[s.height], `${s.reader} served ${s.height} ${s.hash}`);
  });

  test("a writer line that does not link to what the reader holds is refused, and nothing from it served", async () => {
    // Another chain with the same id, written under prefix "other".
    other = await startAnvil();
    await other.rpc("anvil_mine", [q(5)]);
    startWriter("other", other);
    const r1 = readers[0] as Reader;
    const res = await rpcResult<{ prefix: string; height: number }>(r1.url, "chainkeep_switchPrefix", [
      "other",
    ]);
    assert.equal(res.prefix, "other");
    const status = await waitFor(
      async () => {
        const s = await rpcResult<{ switch?: { state: string; reason: string } }>(
          r1.url,
          "chainkeep_readerStatus",
        );
        return s.switch?.state === "refused" ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "the switch refused" },
    );
    assert.match(status.switch?.reason ?? "", /other/);
    // It keeps serving what it verified: the reset height, a block of the upstream's chain.
    await new Promise((r) => setTimeout(r, 1500));
    const tip = await rpcResult<{ number: string; hash: string }>(r1.url, "eth_getBlockByNumber", [
      "latest",
      false,
    ]);
    assert.equal(Number(tip.number), res.height);
    const want = await rpcResult<{ hash: string }>(anvil.url, "eth_getBlockByNumber", [tip.number, false]);
    assert.equal(tip.hash, want.hash);
    // Back to the standby: verified, caught up.
    await rpcResult(r1.url, "chainkeep_switchPrefix", ["standby"]);
    const head = await synced(r1);
    await assertSameAnswers(r1.url, anvil.url, {
      head,
      accounts: (await touchedAccounts(anvil.url, head)).slice(0, 10),
    });
    const hashes = await rpcBatch(
      anvil.url,
      Array.from({ length: head + 1 }, (_, h) => ({ method: "eth_getBlockByNumber", params: [q(h), false] })),
    );
    for (const s of served) {
      assert.equal(
        s.hash,
        (hashes[s.height]?.result as { hash: string } | undefined)?.hash,
        `${s.reader} served ${s.height}`,
      );
    }
  });
});
