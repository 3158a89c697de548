/**
 * An archiver's downtime during a busy chain (issue 10, test 3), as separate processes: a writer
 * and an archiver follow anvil while traffic runs (contracts, token transfers, storage writes
 * and deletes, self-destructs). The archiver is killed (kill -9) and stays down while the chain
 * grows, then restarts on its data directory: it catches up by itself, its durable height reaches
 * the head, and its answers at random historical heights (state, calls, blocks, transactions,
 * receipts and logs) are anvil's.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { uncompressSync } from "snappy";
import { fromRlp, keccak256 } from "viem";
import { buildEreFile, type ExportBlock, readBlocks } from "../../src/archive/index.ts";
import { TrafficGenerator } from "../../src/demo/index.ts";
import { ChainStore, FsStore } from "../../src/store/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { type ChainkeepProcess, runChainkeep, spawnChainkeep } from "../helpers/cluster.ts";
import { freePort, type JsonRpcCall, rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const q = (n: number) => `0x${n.toString(16)}`;

interface ChainStatus {
  durableHeight: number;
  height: number;
  stage: string;
}

describe("archiver downtime: killed during a busy chain, it catches up and answers history as anvil", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: ChainkeepProcess;
  let archiver: ChainkeepProcess;
  let url: string;
  let port: number;
  let gen: TrafficGenerator;
  const abort = new AbortController();
  let traffic: Promise<unknown> | undefined;
  const procs: ChainkeepProcess[] = [];

  const head = async () => Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
  const status = async (): Promise<ChainStatus | undefined> => {
    const res = await fetch(`${url}status`).catch(() => undefined);
    return res?.ok ? ((await res.json()) as { chains: ChainStatus[] }).chains[0] : undefined;
  };
  const startArchiver = (name: string) => {
    const p = spawnChainkeep(name, [
      "archiver",
      "--store",
      join(dir, "store"),
      "--data-dir",
      join(dir, "archiver"),
      "--rpc-port",
      String(port),
      "--poll-interval",
      "100",
      "--keep-interval",
      "200",
      "--upstream",
      anvil.url,
    ]);
    procs.push(p);
    return p;
  };
  const diagnostics = () => procs.map((p) => `--- ${p.name} ---\n${p.output().trim()}`).join("\n");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-archiver-down-"));
    anvil = await startAnvil();
    writer = spawnChainkeep("writer", [
      "writer",
      "--upstream",
      anvil.wsUrl,
      "--store",
      join(dir, "store"),
      "--poll-interval",
      "100",
      "--reorg-max",
      "8",
      "--pack",
      "--segment-blocks",
      "16",
      "--pack-interval",
      "500",
    ]);
    procs.push(writer);
    gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger: silentLogger() });
    await gen.deploy();
    port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    archiver = startArchiver("archiver");
    traffic = gen.run({ intervalMs: 150, signal: abort.signal }).catch(() => {});
  });

  after(async () => {
    abort.abort();
    await traffic;
    for (const p of [...procs].reverse()) await p.stop();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("down for a while, back, caught up; history at random heights is anvil's", async () => {
    await waitFor(async () => ((await status())?.durableHeight ?? -1) >= 10, {
      timeoutMs: 60_000,
      what: "the archiver durable at 10",
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${diagnostics()}`);
    });
    const downAt = (await status())?.durableHeight as number;
    process.kill(archiver.pid, "SIGKILL");
    await waitFor(async () => archiver.exited(), { timeoutMs: 10_000, what: "the archiver gone" });
    // The chain grows by at least 40 blocks (two and a half segments) while it is down.
    await waitFor(async () => (await head()) >= downAt + 40, { timeoutMs: 120_000, what: "40 blocks more" });
    archiver = startArchiver("archiver-again");
    abort.abort();
    await traffic;
    await gen.settle();
    const top = await head();
    await waitFor(
      async () => {
        const s = await status();
        return s?.durableHeight === top && s.height === top && s.stage === "LIVE";
      },
      { timeoutMs: 120_000, what: `the archiver back at ${top}` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(status())}\n${diagnostics()}`);
    });
    // Random historical heights (a fixed seed, so a failure can be replayed), the down time included.
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const heights = new Set<number>([downAt, downAt + 1, top]);
    while (heights.size < 15) heights.add(1 + rand(top));
    const m = gen.manifest();
    const c = m.contracts as NonNullable<typeof m.contracts>;
    const holders = m.accounts.slice(0, 12);
    const calls: JsonRpcCall[] = [];
    for (const h of heights) {
      calls.push({ method: "eth_getBlockByNumber", params: [q(h), true] });
      calls.push({ method: "eth_getBlockReceipts", params: [q(h)] });
      calls.push({ method: "eth_getLogs", params: [{ fromBlock: q(Math.max(0, h - 3)), toBlock: q(h) }] });
      for (const a of [...holders, ...Object.values(c)]) {
        calls.push({ method: "eth_getBalance", params: [a, q(h)] });
        calls.push({ method: "eth_getTransactionCount", params: [a, q(h)] });
        calls.push({ method: "eth_getCode", params: [a, q(h)] });
      }
      for (const s of [...m.storage.written, ...m.storage.deleted].slice(0, 40))
        calls.push({ method: "eth_getStorageAt", params: [s.address, s.slot, q(h)] });
      for (const a of holders) {
        const data = `0x70a08231${a.slice(2).toLowerCase().padStart(64, "0")}`;
        calls.push({ method: "eth_call", params: [{ to: c.token, data }, q(h)] });
      }
      calls.push({
        method: "eth_estimateGas",
        params: [{ from: holders[0], to: holders[1], value: "0x1" }, q(h)],
      });
    }
    for (const hash of [
      ...m.txs.erc20.slice(0, 8),
      ...m.txs.crossCall.slice(0, 4),
      ...m.txs.selfDestruct.slice(0, 2),
    ]) {
      calls.push({ method: "eth_getTransactionByHash", params: [hash] });
      calls.push({ method: "eth_getTransactionReceipt", params: [hash] });
    }
    const diffs: string[] = [];
    for (let i = 0; i < calls.length; i += 300) {
      const chunk = calls.slice(i, i + 300);
      const [ours, theirs] = await Promise.all([rpcBatch(url, chunk), rpcBatch(anvil.url, chunk)]);
      chunk.forEach((call, j) => {
        const a = JSON.stringify({ ...theirs[j], id: null });
        const b = JSON.stringify({ ...ours[j], id: null });
        if (a !== b)
          diffs.push(
            `${call.method} ${JSON.stringify(call.params)}: anvil ${a.slice(0, 200)} ours ${b.slice(0, 200)}`,
          );
      });
    }
    assert.deepEqual(
      diffs,
      [],
      `${diffs.length} of ${calls.length} answers differ:\n${diffs.slice(0, 20).join("\n")}`,
    );
    assert.ok(calls.length > 800, `${calls.length} calls compared`);
  });

  test("ere export from the store and from the archiver's database: identical files, decoded independently, verified, tampering found", async () => {
    const top = await head();
    const fromStore = join(dir, "ere-store");
    const fromDb = join(dir, "ere-db");
    const a = await runChainkeep("export-store", [
      "export",
      "--format",
      "ere",
      "--out",
      fromStore,
      "--store",
      join(dir, "store"),
    ]);
    assert.ok(a.ok, a.output);
    const b = await runChainkeep("export-db", [
      "export",
      "--format",
      "ere",
      "--out",
      fromDb,
      "--data-dir",
      join(dir, "archiver"),
    ]);
    assert.ok(b.ok, b.output);
    const names = (await readdir(fromStore)).sort();
    assert.deepEqual(names, (await readdir(fromDb)).sort());
    assert.equal(names.length, 1, "one era");
    const name = names[0] as string;
    const bytes = await readFile(join(fromStore, name));
    const sha = (x: Buffer) => createHash("sha256").update(x).digest("hex");
    assert.equal(sha(bytes), sha(await readFile(join(fromDb, name))), "the same bytes from both sources");
    // The streaming writer's bytes are those of the whole-file builder.
    const all: ExportBlock[] = [];
    const line = new ChainStore(
      new FsStore({ dir: join(dir, "store"), fsync: false }),
      "primary",
      anvil.chainId,
    );
    for await (const batch of readBlocks(line, 0, top))
      for (const x of batch) all.push({ block: x.bundle.block, receipts: x.bundle.receipts });
    assert.equal(sha(Buffer.from(buildEreFile(all, `chain${anvil.chainId}`).bytes)), sha(bytes));
    // The name: network, era, the last block's hash, the profile.
    const last = await rpcResult<{ hash: string }>(anvil.url, "eth_getBlockByNumber", [q(top), false]);
    assert.equal(name, `chain${anvil.chainId}-00000-${last.hash.slice(2, 10)}-noproofs.ere`);
    // Decoded by this test's own reader (e2store records, snappy framing with the `snappy` package,
    // RLP with viem): every header hashes to anvil's block hash, and bodies and receipts are anvil's.
    const recs = records(bytes);
    assert.equal(recs[0]?.type, 0x6532);
    const n = top + 1;
    const headers = recs.filter((r) => r.type === 0x0300);
    const bodies = recs.filter((r) => r.type === 0x0400);
    const receipts = recs.filter((r) => r.type === 0x0a00);
    assert.deepEqual([headers.length, bodies.length, receipts.length], [n, n, n]);
    const index = recs[recs.length - 1] as { type: number; data: Buffer };
    assert.equal(index.type, 0x6732);
    assert.equal(index.data.readBigUInt64LE(0), 0n, "starting number");
    assert.equal(index.data.readBigUInt64LE(index.data.length - 8), BigInt(n), "count");
    assert.equal(index.data.readBigUInt64LE(index.data.length - 16), 3n, "components");
    for (const h of [0, 1, Math.floor(top / 2), top]) {
      const [blk, rcpts] = await Promise.all([
        rpcResult<{ hash: string; transactions: { hash: string }[] }>(anvil.url, "eth_getBlockByNumber", [
          q(h),
          true,
        ]),
        rpcResult<{ status: string; cumulativeGasUsed: string; logs: unknown[] }[]>(
          anvil.url,
          "eth_getBlockReceipts",
          [q(h)],
        ),
      ]);
      const headerRlp = unframe((headers[h] as { data: Buffer }).data);
      assert.equal(keccak256(headerRlp), blk.hash, `header ${h}`);
      const body = fromRlp(unframe((bodies[h] as { data: Buffer }).data), "bytes") as unknown as unknown[][];
      const txs = body[0] as (Uint8Array | unknown[])[];
      assert.equal(txs.length, blk.transactions.length, `transactions of ${h}`);
      const slim = fromRlp(unframe((receipts[h] as { data: Buffer }).data), "hex") as unknown as string[][];
      assert.equal(slim.length, rcpts.length);
      slim.forEach((r, i) => {
        assert.equal(
          BigInt(r[2] === "0x" ? 0 : (r[2] as string)),
          BigInt(rcpts[i]?.cumulativeGasUsed as string),
          `receipt ${h}/${i}`,
        );
        assert.equal((r[3] as unknown as unknown[]).length, rcpts[i]?.logs.length);
      });
    }
    // export verify: the directory checks out; a flipped byte and a truncated file are reported by name and offset.
    const ok = await runChainkeep("verify", ["export", "verify", fromStore]);
    assert.ok(ok.ok, ok.output);
    assert.match(ok.output, new RegExp(`ok ${name} blocks 0-${top}`));
    const flipped = Buffer.from(bytes);
    const at = bytes.indexOf(bodies[Math.floor(n / 2)]?.data as Buffer) + 12;
    flipped[at] = (flipped[at] as number) ^ 0x01;
    await writeFile(join(fromDb, name), flipped);
    const bad = await runChainkeep("verify-bad", ["export", "verify", fromDb]);
    assert.equal(bad.ok, false);
    assert.match(bad.output, new RegExp(`FAILED ${name}: .*offset \\d+`));
    await writeFile(join(fromDb, name), bytes.subarray(0, bytes.length - 100));
    const cut = await runChainkeep("verify-cut", ["export", "verify", fromDb]);
    assert.equal(cut.ok, false);
    assert.match(cut.output, new RegExp(`FAILED ${name}: .*offset \\d+`));
  });
});

/** The e2store records of a file, read here independently of chainkeep's reader. */
function records(file: Buffer): { type: number; data: Buffer }[] {
  const out: { type: number; data: Buffer }[] = [];
  for (let at = 0; at < file.length; ) {
    const type = file.readUInt16BE(at);
    const len = file.readUInt32LE(at + 2);
    out.push({ type, data: file.subarray(at + 8, at + 8 + len) });
    at += 8 + len;
  }
  return out;
}

/** Snappy framing decoded with the `snappy` package (Rust, napi): chunks 0x00 compressed, 0x01 stored. */
function unframe(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const type = data[at] as number;
    const len = data.readUIntLE(at + 1, 3);
    const body = data.subarray(at + 4, at + 4 + len);
    if (type === 0x00) parts.push(uncompressSync(body.subarray(4)) as Buffer);
    else if (type === 0x01) parts.push(body.subarray(4));
    at += 4 + len;
  }
  return Buffer.concat(parts);
}
