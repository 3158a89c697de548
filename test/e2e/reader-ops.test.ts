import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TrafficGenerator } from "../../src/demo/index.ts";
import { ChainDb } from "../../src/reader/index.ts";
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
import { freePort, rpc, rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const logger = silentLogger();
const ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const q = (h: number) => `0x${h.toString(16)}`;
const REORG_MAX = 16;

type Reader = ReaderProcess;

/**
 * Operator actions and crashes on reader processes (`chainkeep reader` and its subcommands, real
 * anvil): backtracking a live reader through the admin RPC (worker processes) and a stopped one
 * from its data directory, a reorg while a reader is stopped, and kill -9 at several points of
 * an unwind. After each, the reader answers as anvil at every height.
 */
describe("reader operations: backtrack, a reorg while stopped, kill -9 during unwinds", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let store: string;
  let writer: ChainkeepProcess;
  let gen: TrafficGenerator;
  let accounts: string[];
  let slots: [string, string][];
  const procs: ChainkeepProcess[] = [];

  const diagnostics = () =>
    procs.map((p) => `--- ${p.name} (pid ${p.pid}) ---\n${p.output().trim()}`).join("\n");

  async function startReader(
    name: string,
    dataDir: string,
    args: string[] = [],
    env: Record<string, string> = {},
  ): Promise<Reader> {
    return spawnReader({
      name,
      store,
      dataDir,
      upstream: anvil.url,
      args,
      env,
      onSpawn: (p) => procs.push(p),
      diagnostics,
    });
  }

  const cli = runChainkeep;

  async function anvilHead(): Promise<number> {
    return Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
  }

  async function synced(r: Reader, timeoutMs = 90_000): Promise<number> {
    return waitReaderAtHead(r, anvil.url, { timeoutMs, diagnostics });
  }

  async function sameAsAnvil(r: Reader): Promise<void> {
    const head = await synced(r);
    await assertSameAnswers(r.url, anvil.url, { head, accounts, slots });
  }

  /** The reader's database, opened read-only while no reader runs on it. */
  async function peek<T>(dataDir: string, fn: (db: ChainDb) => T): Promise<T> {
    const db = new ChainDb({ path: dataDir, chainId: anvil.chainId, readOnly: true });
    try {
      return fn(db);
    } finally {
      await db.close();
    }
  }

  async function hashes(top: number): Promise<string[]> {
    const res = await rpcBatch(
      anvil.url,
      Array.from({ length: top + 1 }, (_, h) => ({ method: "eth_getBlockByNumber", params: [q(h), false] })),
    );
    return res.map((r) => (r.result as { hash: string }).hash);
  }

  /** Waits until the writer committed anvil's head (its newest head record has anvil's head hash). */
  async function writerCaughtUp(): Promise<void> {
    const head = await anvilHead();
    const want = (await hashes(head))[head];
    const { ChainStore, FsStore } = await import("../../src/store/index.ts");
    const chain = new ChainStore(new FsStore({ dir: store }), "primary", anvil.chainId);
    await waitFor(
      async () => {
        const refs = await chain.listHeads(Math.max(0, head - 2 * REORG_MAX), 10_000);
        const newest = refs.reduce((a, b) => (b.writeTs > a.writeTs ? b : a));
        return newest.height === head && newest.hash === want;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "writer at anvil's head" },
    );
  }

  const transfer = (n: number) => ({ from: ALICE, to: BOB, value: q(7000 + n) });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-rops-"));
    store = join(dir, "store");
    anvil = await startAnvil();
    gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    await gen.deploy();
    for (let r = 0; r < 2; r++) await gen.round();
    await gen.settle();
    const head = await anvilHead();
    if (head < 120) await anvil.rpc("anvil_mine", [q(120 - head)]);
    writer = spawnChainkeep("writer", [
      "writer",
      "--upstream",
      anvil.wsUrl,
      "--store",
      store,
      "--poll-interval",
      "100",
      "--reorg-max",
      String(REORG_MAX),
      "--cross-check",
      "sample",
    ]);
    procs.push(writer);
    accounts = (await touchedAccounts(anvil.url, await anvilHead())).slice(0, 12);
    const codes = await rpcBatch(
      anvil.url,
      accounts.map((a) => ({ method: "eth_getCode", params: [a, "latest"] })),
    );
    slots = accounts
      .filter((_, i) => codes[i]?.result !== "0x")
      .flatMap((a) => [0, 1, 2].map((s): [string, string] => [a, q(s)]));
  });

  after(async () => {
    for (const p of [...procs].reverse()) await p.stop();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("admin methods answer -32601 unless the reader runs with --admin", async () => {
    const r = await startReader("reader-plain", join(dir, "plain"), ["--workers", "1"]);
    await synced(r);
    for (const method of ["chainkeep_backtrack", "chainkeep_switchPrefix", "chainkeep_readerStatus"]) {
      const res = await rpc(r.url, method, method === "chainkeep_readerStatus" ? [] : ["0x1"]);
      assert.equal(res.error?.code, -32601, method);
    }
    await r.proc.stop();
  });

  test("backtrack 100 blocks on a live chain through the admin RPC of worker processes", async () => {
    const r = await startReader("reader-admin", join(dir, "admin"), ["--workers", "2", "--admin"]);
    await synced(r);
    const abort = new AbortController();
    const traffic = gen.run({ intervalMs: 150, signal: abort.signal });
    try {
      await new Promise((res) => setTimeout(res, 1500));
      const head = Number(await rpcResult<string>(r.url, "eth_blockNumber"));
      const to = head - 100;
      const out = await cli("backtrack-rpc", ["reader", "backtrack", "--to", String(to), "--rpc", r.url]);
      assert.ok(out.ok, out.output);
      const result = JSON.parse(out.output.trim().split("\n")[0] as string) as { from: number; to: number };
      assert.equal(result.to, to);
      assert.ok(result.from >= head, `unwound from ${result.from}`);
      const bad = await rpc(r.url, "chainkeep_backtrack", [q(head + 1000)]);
      assert.equal(bad.error?.code, -32602, "a height above the applied one is refused");
      await new Promise((res) => setTimeout(res, 1500));
    } finally {
      abort.abort();
      await traffic;
    }
    await gen.settle();
    await sameAsAnvil(r);
    const status = await rpcResult<{ backtracks: number; refused: number }>(r.url, "chainkeep_readerStatus");
    assert.equal(status.backtracks, 1);
    assert.equal(status.refused, 0);
    // An offline backtrack is refused while the reader runs on the directory.
    const refused = await cli("backtrack-locked", [
      "reader",
      "backtrack",
      "--to",
      "1",
      "--data-dir",
      r.dataDir,
    ]);
    assert.equal(refused.ok, false);
    assert.match(refused.output, /is running/);
    await r.proc.stop();
  });

  test("backtrack a stopped reader from its data directory, and a reorg while it is stopped", async () => {
    const dataDir = join(dir, "stopped");
    let r = await startReader("reader-stopped", dataDir, ["--workers", "1"]);
    const head = await synced(r);
    await r.proc.stop();
    const out = await cli("backtrack-offline", [
      "reader",
      "backtrack",
      "--to",
      String(head - 60),
      "--data-dir",
      dataDir,
    ]);
    assert.ok(out.ok, out.output);
    assert.equal(await peek(dataDir, (db) => db.tip()?.height), head - 60);
    // The upstream reorganises while the reader is down.
    await anvil.rpc("anvil_reorg", [
      5,
      [
        [transfer(1), 0],
        [transfer(2), 4],
      ],
    ]);
    await writerCaughtUp();
    r = await startReader("reader-stopped-2", dataDir, ["--workers", "1"]);
    await sameAsAnvil(r);
    // Stopped on a tip the upstream then replaces.
    await r.proc.stop();
    await anvil.rpc("anvil_reorg", [3, [[transfer(3), 1]]]);
    await writerCaughtUp();
    r = await startReader("reader-stopped-3", dataDir, ["--workers", "1"]);
    await sameAsAnvil(r);
    await r.proc.stop();
  });

  test("kill -9 inside a reorg's transaction, at several points: one branch or the other, then equal answers", async () => {
    const dataDir = join(dir, "crash");
    let r = await startReader("reader-crash", dataDir, ["--workers", "1"]);
    await synced(r);
    await r.proc.stop();
    // The reader is stopped while the writer follows the reorg, and started once the store holds
    // the new branch whole: a reader that watched it happen may see the writer's passing mark of
    // the rolled-back (shorter) chain first, which unwinds without switching branches, so
    // `reorg-apply` would never be reached. Started afterwards, it switches branches in one
    // transaction, and the points are within its first blocks.
    const points = ["unwind:1", "unwind:2", "reorg-apply:1"];
    for (const [i, point] of points.entries()) {
      r = await startReader(`reader-sync-${point}`, dataDir, ["--workers", "1"]);
      const top = await synced(r);
      const old = await hashes(top);
      await r.proc.stop();
      await anvil.rpc("anvil_reorg", [
        6,
        [
          [transfer(20 + 2 * i), 0],
          [transfer(21 + 2 * i), 5],
        ],
      ]);
      await writerCaughtUp();
      const crashing = spawnChainkeep(
        `reader-crash-${point}`,
        [
          "reader",
          "--store",
          store,
          "--data-dir",
          dataDir,
          "--rpc-port",
          String(await freePort()),
          "--upstream",
          anvil.url,
          "--poll-interval",
          "100",
          "--history",
          "archive",
          "--workers",
          "1",
        ],
        { CHAINKEEP_TEST_CRASH_AT: point },
      );
      procs.push(crashing);
      r = { ...r, proc: crashing };
      try {
        await waitFor(async () => r.proc.exited(), {
          timeoutMs: 60_000,
          what: `the reader killed at ${point}`,
        });
      } catch (err) {
        await r.proc.stop();
        throw new Error(`${(err as Error).message}\n${diagnostics()}`);
      }
      assert.match(r.proc.output(), /signal SIGKILL/);
      // The transaction did not commit: the database holds the old branch, whole.
      const tip = await peek(dataDir, (db) => db.tip());
      assert.equal(tip?.hash, old[tip?.height ?? -1], `${point}: the tip is a block of the old branch`);
      r = await startReader(`reader-after-${point}`, dataDir, ["--workers", "1"]);
      await sameAsAnvil(r);
      await r.proc.stop();
    }
  });

  test("kill -9 between the steps of a backtrack and inside one: the next start finishes it", async () => {
    const dataDir = join(dir, "crash");
    // Online, between committed steps (16 blocks each).
    let r = await startReader("reader-bt-crash", dataDir, ["--workers", "1", "--admin"], {
      CHAINKEEP_TEST_CRASH_AT: "unwind-step:2",
    });
    const head = await synced(r);
    await rpc(r.url, "chainkeep_backtrack", [head - 50]).catch(() => undefined);
    await waitFor(async () => r.proc.exited(), {
      timeoutMs: 60_000,
      what: "the reader killed between steps",
    });
    const mid = await peek(dataDir, (db) => ({ tip: db.tip()?.height, pending: db.pendingUnwind() }));
    assert.equal(mid.tip, head - 32, "two steps of 16 blocks committed");
    assert.deepEqual(mid.pending, { to: head - 50, reason: "backtrack" });
    r = await startReader("reader-bt-resumed", dataDir, ["--workers", "1"]);
    await sameAsAnvil(r);
    await r.proc.stop();
    // Offline, inside the first step's transaction.
    const before = await peek(dataDir, (db) => db.tip());
    const out = await cli(
      "backtrack-crash",
      ["reader", "backtrack", "--to", String(head - 40), "--data-dir", dataDir],
      {
        CHAINKEEP_TEST_CRASH_AT: "unwind:5",
      },
    );
    assert.match(out.output, /signal SIGKILL/);
    const after = await peek(dataDir, (db) => ({ tip: db.tip(), pending: db.pendingUnwind() }));
    assert.deepEqual(after.tip, before, "the interrupted step left the database as it was");
    assert.deepEqual(after.pending, { to: head - 40, reason: "backtrack" });
    r = await startReader("reader-bt-resumed-2", dataDir, ["--workers", "1"]);
    await sameAsAnvil(r);
    await r.proc.stop();
  });
});
