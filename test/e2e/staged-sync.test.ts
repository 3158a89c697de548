/**
 * Segments, snapshots and the reader's staged sync (issue 5) on a real chain: anvil with traffic,
 * an in-process writer (reorgMax 8) on a directory store, segments of 16 blocks, snapshots.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ArchiverSnapshots,
  createSnapshot,
  listSegments,
  listSnapshots,
  Packer,
  readChunk,
  readManifest,
  readSegmentBlocks,
  readSegmentIndex,
  retireSnapshots,
  verifySegment,
  verifySnapshot,
} from "../../src/archive/index.ts";
import { MemoryBus } from "../../src/bus/index.ts";
import { TrafficGenerator } from "../../src/demo/index.ts";
import { encodeJsonGz, sha256Hex } from "../../src/format/index.ts";
import { type RunningReader, startReader } from "../../src/node/index.ts";
import { ChainStore, FsStore, type ObjectStore } from "../../src/store/index.ts";
import { HttpUpstream } from "../../src/upstream/index.ts";
import { killOnExit } from "../../src/util/children.ts";
import { systemClock } from "../../src/util/clock.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { Writer } from "../../src/writer/index.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { CHAINKEEP_BIN } from "../helpers/cluster.ts";
import { freePort, rpc, rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const DEV = [
  "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
  "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
  "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
];
const hex = (n: number) => `0x${n.toString(16)}`;

/** A store that corrupts the first read of every snapshot chunk and segment data range. */
class FlakyStore implements ObjectStore {
  corrupted = 0;
  private readonly seen = new Set<string>();
  constructor(private readonly inner: FsStore) {}
  private flip(key: string, data: Uint8Array | undefined): Uint8Array | undefined {
    if (!data || data.length === 0 || this.seen.has(key)) return data;
    if (!/chunk-|segments\/.*\/data/.test(key)) return data;
    this.seen.add(key);
    this.corrupted++;
    const copy = Buffer.from(data);
    copy[copy.length >> 1] = (copy[copy.length >> 1] as number) ^ 0xff;
    return copy;
  }
  put(key: string, data: Uint8Array) {
    return this.inner.put(key, data);
  }
  async get(key: string) {
    return this.flip(key, await this.inner.get(key));
  }
  async getRange(key: string, offset: number, length: number) {
    return this.flip(`${key}@${offset}`, await this.inner.getRange(key, offset, length));
  }
  list(prefix: string, opts?: { startAfter?: string; limit?: number }) {
    return this.inner.list(prefix, opts);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  close() {
    return this.inner.close();
  }
}

function spawnReader(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CHAINKEEP_BIN, "reader", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, CHAINKEEP_LOG_LEVEL: "warn" },
  });
  killOnExit(child);
  child.stderr?.on("data", (d: Buffer) => {
    readerLog = (readerLog + d.toString()).slice(-6000);
  });
  return child;
}

/** The tail of the spawned readers' logs, for failure messages. */
let readerLog = "";

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

interface Syncing {
  stage: string;
  startingBlock: string;
  currentBlock: string;
  highestBlock: string;
  detail: string;
}

async function syncing(url: string): Promise<Syncing | false | undefined> {
  const r = await rpc(url, "eth_syncing").catch(() => undefined);
  return r?.result as Syncing | false | undefined;
}

describe("segments, snapshots and staged sync", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: Writer;
  let chain: ChainStore;
  let gen: TrafficGenerator;
  const abort = new AbortController();
  let traffic: Promise<unknown> | undefined;
  const logger = silentLogger();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-staged-"));
    anvil = await startAnvil();
    gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    const store = new FsStore({ dir: join(dir, "store"), fsync: false });
    chain = new ChainStore(store, "primary", anvil.chainId);
    writer = new Writer(
      { crossCheck: "always", pollInterval: 50, reorgMax: 8 },
      {
        upstream: new HttpUpstream({ url: anvil.wsUrl }, { logger }),
        chain,
        bus: new MemoryBus(),
        clock: systemClock,
        logger,
      },
    );
    await writer.start();
    await gen.deploy();
    while (Number(await rpcResult<string>(anvil.url, "eth_blockNumber")) < 110) await gen.round();
    await gen.settle();
    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    await waitFor(async () => writer.status().height === head, { timeoutMs: 60_000, what: "writer at head" });
  });

  after(async () => {
    abort.abort();
    await traffic;
    await writer?.stop();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("packing writes aligned segments of finalized blocks; one block reads without the segment", async () => {
    const r = await new Packer({ segmentBlocks: 16 }, { chain, logger }).packOnce();
    const tip = r.tip as number;
    assert.ok(r.written.length >= 5, `segments written: ${JSON.stringify(r.written)}`);
    const segs = await listSegments(chain);
    assert.equal(segs[0]?.from, 0);
    for (const s of segs) {
      assert.equal((s.to + 1) % 16, 0, "aligned");
      assert.ok(s.to <= tip - 8, "only finalized blocks");
      await verifySegment(chain, s);
    }
    // Nothing new to pack: a second pass writes nothing.
    assert.deepEqual((await new Packer({ segmentBlocks: 16 }, { chain, logger }).packOnce()).written, []);
    // One block by a ranged read, equal to its per-block bundle.
    const s1 = segs[1] as (typeof segs)[number];
    const idx = await readSegmentIndex(chain, s1);
    const [one] = await readSegmentBlocks(chain, s1, idx, s1.from + 3, s1.from + 3);
    const ref = await chain.canonicalHead(s1.from + 3);
    const own = await chain.readBundle(await chain.readHead(ref as NonNullable<typeof ref>));
    assert.deepEqual(one?.bundle, own);
    // A corrupted data object is detected.
    const dataPath = join(dir, "store", ...s1.dataKey.split("/"));
    const good = await readFile(dataPath);
    const bad = Buffer.from(good);
    bad[100] = (bad[100] as number) ^ 1;
    await writeFile(dataPath, bad);
    await assert.rejects(verifySegment(chain, s1), { code: "BUNDLE_CHECKSUM" });
    await writeFile(dataPath, good);
    // Retention: per-block bundles of packed heights more than 8 below the tip go; head records stay.
    const kept = await new Packer({ segmentBlocks: 16, retainBlocks: 8 }, { chain, logger }).packOnce();
    assert.ok(kept.deleted >= (segs.at(-1)?.to as number) - 8, `deleted ${kept.deleted}`);
    const old = await chain.canonicalHead(5);
    assert.ok(old, "head record kept");
    await assert.rejects(chain.readBundle(await chain.readHead(old)), { code: "STORE_NOT_FOUND" });
    const lastSeg = segs.at(-1) as (typeof segs)[number];
    assert.ok(
      await chain.readBundle(
        await chain.readHead(
          (await chain.canonicalHead(lastSeg.to + 1)) as NonNullable<
            Awaited<ReturnType<typeof chain.canonicalHead>>
          >,
        ),
      ),
      "unpacked bundles kept",
    );
  });

  test("snapshots: create (incremental), list, verify, detect a corrupted chunk, retire", async () => {
    const tip = writer.status().height;
    const first = await createSnapshot(chain, { height: tip - 40, chunkEntries: 10 }, { logger });
    assert.equal(first.base, null);
    const second = await createSnapshot(chain, { chunkEntries: 10 }, { logger });
    assert.equal(second.base, first.height, "built from the previous snapshot");
    assert.equal(second.height, tip - 8);
    assert.ok(second.chunks.length >= 3, `${second.chunks.length} chunks`);
    const report = await verifySnapshot(chain, {
      height: second.height,
      manifestKey: `${chain.root}snapshots/${String(second.height).padStart(12, "0")}/manifest.json`,
    });
    assert.ok(report.crossChecked > 10, `cross-checked ${report.crossChecked} keys`);
    // Balances and nonces in the chunks equal the upstream's at that height.
    const held = new Map<string, [string, string]>();
    for (const ref of second.chunks)
      for (const acc of (await readChunk(chain, ref)).accounts) held.set(acc[0], [acc[1], acc[2]]);
    for (const a of DEV) {
      const [bal, nonce] = await Promise.all([
        rpcResult<string>(anvil.url, "eth_getBalance", [a, hex(second.height)]),
        rpcResult<string>(anvil.url, "eth_getTransactionCount", [a, hex(second.height)]),
      ]);
      assert.deepEqual(
        held.get(a)?.map((v) => BigInt(v)),
        [BigInt(bal), BigInt(nonce)],
        a,
      );
    }
    const chunkPath = join(dir, "store", ...String(second.chunks[1]?.key).split("/"));
    const good = await readFile(chunkPath);
    const bad = Buffer.from(good);
    bad[20] = (bad[20] as number) ^ 1;
    await writeFile(chunkPath, bad);
    const refs = await listSnapshots(chain);
    await assert.rejects(verifySnapshot(chain, refs[refs.length - 1] as (typeof refs)[number]), {
      code: "BUNDLE_CHECKSUM",
    });
    await writeFile(chunkPath, good);
    // A third one later, then retention keeps the newest two.
    for (let i = 0; i < 3; i++) await gen.round();
    await gen.settle();
    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    await waitFor(async () => writer.status().height === head, { timeoutMs: 60_000, what: "writer at head" });
    await createSnapshot(chain, { chunkEntries: 10 }, { logger });
    assert.deepEqual(await retireSnapshots(chain, 2), [first.height]);
    assert.equal((await listSnapshots(chain)).length, 2);
  });

  test("CLI: pack, snapshot list and snapshot verify (snapshots and segments)", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [CHAINKEEP_BIN, ...args, "--store", join(dir, "store")], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, CHAINKEEP_LOG_LEVEL: "warn" },
        });
        let out = "";
        child.stdout?.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.stderr?.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.on("exit", (code) => resolve({ code, out }));
      });
    const pack = await run(["pack", "--segment-blocks", "16"]);
    assert.equal(pack.code, 0, pack.out);
    assert.ok(Array.isArray((JSON.parse(pack.out) as { written: unknown[] }).written));
    const list = await run(["snapshot", "list"]);
    assert.equal(list.code, 0, list.out);
    assert.equal(list.out.match(/^snapshot /gm)?.length, 2, list.out);
    assert.ok(/^segment 0-15$/m.test(list.out), list.out);
    const verify = await run(["snapshot", "verify", "--segments"]);
    assert.equal(verify.code, 0, verify.out);
    assert.ok(
      verify.out
        .split("\n")
        .filter(Boolean)
        .every((l) => (JSON.parse(l) as { ok: boolean }).ok),
      verify.out,
    );
  });

  test("corrupted chunks and segment reads are detected and fetched again; the reader reaches LIVE", async () => {
    const flaky = new FlakyStore(new FsStore({ dir: join(dir, "store"), fsync: false }));
    const reader: RunningReader = await startReader(
      {
        store: "",
        dataDir: join(dir, "r-flaky"),
        rpcPort: 0,
        prefix: "primary",
        chainId: anvil.chainId,
        pollInterval: 100,
        workers: 1,
        verifyStateRoot: true,
      },
      { logger, store: flaky, bus: new MemoryBus() },
    );
    try {
      await reader.syncer.waitLive(60_000);
      assert.ok(flaky.corrupted >= 2, `corrupted reads served: ${flaky.corrupted}`);
      const snaps = await listSnapshots(chain);
      assert.equal(reader.db.earliest(), snaps[snaps.length - 1]?.height, "started from the newest snapshot");
      const url = `http://127.0.0.1:${reader.port}/`;
      const tip = reader.db.tip()?.height as number;
      const calls: { method: string; params: unknown[] }[] = DEV.map((a) => ({
        method: "eth_getBalance",
        params: [a, hex(tip)],
      }));
      calls.push({ method: "eth_getBlockByNumber", params: [hex(tip), true] });
      const [ours, theirs] = await Promise.all([rpcBatch(url, calls), rpcBatch(anvil.url, calls)]);
      assert.deepEqual(
        ours.map((r) => r.result),
        theirs.map((r) => r.result),
      );
    } finally {
      await reader.close();
    }
  });

  test("state roots: a snapshot's recomputed root is the header's; a changed balance with matching checksums is refused", async () => {
    const snaps = await listSnapshots(chain);
    const ref = snaps[snaps.length - 1] as (typeof snaps)[number];
    const report = await verifySnapshot(chain, ref);
    const header = await rpcResult<{ stateRoot: string }>(anvil.url, "eth_getBlockByNumber", [
      hex(ref.height),
      false,
    ]);
    assert.equal(report.stateRoot, header.stateRoot, "the root recomputed from the chunks is anvil's");
    // A forged copy of the store: one balance changed, the chunk's size and sha256 in the manifest made to match.
    const forgedDir = join(dir, "store-forged");
    await cp(join(dir, "store"), forgedDir, { recursive: true });
    const forged = new ChainStore(new FsStore({ dir: forgedDir, fsync: false }), "primary", anvil.chainId);
    const m = await readManifest(forged, ref);
    const cref = m.chunks[0] as (typeof m.chunks)[number];
    const chunk = await readChunk(forged, cref);
    const victim = chunk.accounts.findIndex((a) => a[1] !== "" && BigInt(a[1]) > 0n);
    const acc = chunk.accounts[victim] as (typeof chunk.accounts)[number];
    acc[1] = `0x${(BigInt(acc[1]) + 1n).toString(16)}`;
    const data = await encodeJsonGz(chunk);
    await forged.store.put(cref.key, data);
    cref.size = data.length;
    cref.sha256 = sha256Hex(data);
    await forged.store.put(ref.manifestKey, Buffer.from(JSON.stringify(m)));
    await readChunk(forged, cref); // the checksums match
    // The root alone refuses it (without the cross-check with the last blocks' diffs, which may catch it too).
    await assert.rejects(verifySnapshot(forged, ref, { checkBlocks: 0 }), { code: "BUNDLE_STATE_ROOT" });
    // A reader with --verify-state-root refuses to restore it, and never serves.
    const reader = await startReader(
      {
        store: "",
        dataDir: join(dir, "r-forged"),
        rpcPort: 0,
        chainId: anvil.chainId,
        verifyStateRoot: true,
        workers: 1,
      },
      { logger, store: forged.store, bus: new MemoryBus() },
    );
    try {
      await waitFor(
        async () => /BUNDLE_STATE_ROOT|recomputed from its chunks/.test(reader.syncer.error() ?? ""),
        {
          timeoutMs: 30_000,
          what: "the restore refused",
        },
      );
      assert.equal(reader.syncer.current(), "CHECKPOINT");
      const health = await fetch(`http://127.0.0.1:${reader.port}/health`);
      assert.equal(health.status, 503);
    } finally {
      await reader.close();
    }
    // A manifest whose root is not the header's is refused by every reader, before any chunk is written.
    const m2 = await readManifest(chain, ref);
    m2.stateRoot = `0x${"11".repeat(32)}`;
    await forged.store.put(ref.manifestKey, Buffer.from(JSON.stringify(m2)));
    const plain = await startReader(
      { store: "", dataDir: join(dir, "r-forged-2"), rpcPort: 0, chainId: anvil.chainId, workers: 1 },
      { logger, store: forged.store, bus: new MemoryBus() },
    );
    try {
      await waitFor(
        async () => /manifest's state root is not the header's/.test(plain.syncer.error() ?? ""),
        {
          timeoutMs: 30_000,
          what: "the manifest refused",
        },
      );
      assert.equal(plain.db.chainInfo(), undefined, "nothing restored");
    } finally {
      await plain.close();
    }
  });

  test("kill -9 in CHECKPOINT, BACKFILL and HEAD: each stage resumes from its cursor; RPC gated until LIVE", async () => {
    // Segments beyond the newest snapshot, for BACKFILL to apply.
    for (let i = 0; i < 6; i++) await gen.round();
    await gen.settle();
    const h0 = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    await waitFor(async () => writer.status().height === h0, { timeoutMs: 60_000, what: "writer at head" });
    await new Packer({ segmentBlocks: 16 }, { chain, logger }).packOnce();
    const segs = await listSegments(chain);
    const snapAt = (await listSnapshots(chain)).at(-1)?.height as number;
    assert.ok((segs.at(-1)?.to as number) > snapAt + 16, "segments above the snapshot");
    // Traffic keeps the writer producing blocks while the reader syncs.
    traffic = gen.run({ intervalMs: 1000, signal: abort.signal });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const args = [
      "--store",
      join(dir, "store"),
      "--data-dir",
      join(dir, "r-kill"),
      "--rpc-port",
      String(port),
      "--poll-interval",
      "100",
      "--workers",
      "1",
      "--progress",
      "log",
    ];
    const slow = [...args, "--sync-step-delay", "250"];
    let reader = spawnReader(slow);
    try {
      for (const stage of ["CHECKPOINT", "BACKFILL", "HEAD"]) {
        let seen: Syncing | undefined;
        await waitFor(
          async () => {
            const s = await syncing(url);
            if (
              s &&
              s.stage === stage &&
              (stage === "CHECKPOINT"
                ? /^[1-9]/.test(s.detail)
                : Number(s.currentBlock) > Number(s.startingBlock) + 1)
            ) {
              seen = s;
              return true;
            }
            return false;
          },
          { timeoutMs: 60_000, intervalMs: 20, what: `reader in ${stage}` },
        ).catch((err) => {
          throw new Error(`${err.message}\n${readerLog}`);
        });
        const s = seen as Syncing;
        // Chain data is refused with the stage; the basics answer; /health is 503.
        const bn = await rpc(url, "eth_blockNumber");
        assert.equal(bn.error?.code, -32000);
        assert.match(bn.error?.message ?? "", new RegExp(`stage ${stage}`));
        assert.equal((await rpc(url, "eth_chainId")).result, hex(anvil.chainId));
        assert.ok(typeof (await rpc(url, "web3_clientVersion")).result === "string");
        const health = await fetch(`${url}health`);
        assert.equal(health.status, 503);
        assert.equal(((await health.json()) as { stage: string }).stage, stage);
        await killHard(reader);
        reader = spawnReader(stage === "HEAD" ? args : slow);
        // After the restart the stage resumes where it was (not from its start).
        let after: Syncing | undefined;
        await waitFor(
          async () => {
            const r = await syncing(url);
            if (r === undefined) return false;
            after = r === false ? undefined : r;
            return true;
          },
          { timeoutMs: 30_000, intervalMs: 20, what: "reader answering after restart" },
        );
        if (after) {
          const order = ["CHECKPOINT", "BACKFILL", "HEAD", "LIVE"];
          assert.ok(order.indexOf(after.stage) >= order.indexOf(stage), `${after.stage} after ${stage}`);
          if (after.stage === stage && stage === "CHECKPOINT") {
            assert.ok(
              Number(after.detail.split("/")[0]) >= Number(s.detail.split("/")[0]),
              `${after.detail} vs ${s.detail}`,
            );
          } else if (stage !== "CHECKPOINT") {
            assert.ok(Number(after.currentBlock) >= Number(s.currentBlock), "kept its blocks");
          }
        }
      }
      await waitFor(async () => (await syncing(url)) === false, {
        timeoutMs: 90_000,
        intervalMs: 100,
        what: "LIVE",
      });
      assert.equal((await fetch(`${url}health`)).status, 200);
      // LIVE while the writer produces: then the differential check against anvil.
      abort.abort();
      await traffic;
      await gen.settle();
      const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
      await waitFor(async () => Number((await rpc(url, "eth_blockNumber")).result ?? -1) === head, {
        timeoutMs: 60_000,
        what: "reader at the upstream head",
      });
      const earliest = (await listSnapshots(chain)).at(-1)?.height as number;
      const calls: { method: string; params: unknown[] }[] = [];
      for (let h = earliest; h <= head; h++) {
        calls.push({ method: "eth_getBlockByNumber", params: [hex(h), true] });
        calls.push({ method: "eth_getBlockReceipts", params: [hex(h)] });
        // History mode full (the default): state for the last 128 blocks.
        if (h >= head - 128)
          for (const a of DEV) calls.push({ method: "eth_getBalance", params: [a, hex(h)] });
      }
      for (const a of Object.values(gen.manifest().contracts ?? {})) {
        calls.push({ method: "eth_getCode", params: [a, "latest"] });
        calls.push({ method: "eth_getStorageAt", params: [a, "0x0", "latest"] });
      }
      for (let at = 0; at < calls.length; at += 500) {
        const part = calls.slice(at, at + 500);
        const [ours, theirs] = await Promise.all([rpcBatch(url, part), rpcBatch(anvil.url, part)]);
        part.forEach((c, i) => {
          assert.ok(ours[i]?.result !== undefined, `${c.method} answered ${JSON.stringify(ours[i]?.error)}`);
          assert.deepEqual(ours[i]?.result, theirs[i]?.result, `${c.method} ${JSON.stringify(c.params)}`);
        });
      }
    } finally {
      abort.abort();
      await traffic;
      await killHard(reader);
    }
  });

  test("history mode full: recent state answers as the upstream, older state is a clear error", async () => {
    const reader = await startReader(
      {
        store: "",
        dataDir: join(dir, "r-full"),
        rpcPort: 0,
        prefix: "primary",
        chainId: anvil.chainId,
        workers: 1,
        pollInterval: 100,
        snapshots: false,
        history: "full",
        historyBlocks: 16,
      },
      { logger, store: new FsStore({ dir: join(dir, "store"), fsync: false }), bus: new MemoryBus() },
    );
    const archive = await startReader(
      {
        store: "",
        dataDir: join(dir, "r-archive"),
        rpcPort: 0,
        prefix: "primary",
        chainId: anvil.chainId,
        workers: 1,
        pollInterval: 100,
        snapshots: false,
        history: "archive",
      },
      { logger, store: new FsStore({ dir: join(dir, "store"), fsync: false }), bus: new MemoryBus() },
    );
    try {
      await reader.syncer.waitLive(60_000).catch((err) => {
        throw new Error(`${err.message}: ${err.meta?.lastError}`);
      });
      await archive.syncer.waitLive(60_000);
      // LIVE allows a lag of 2 blocks: wait for the last ones, so the window does not move below.
      for (const r of [reader, archive])
        await waitFor(async () => r.db.tip()?.height === writer.status().height, {
          timeoutMs: 30_000,
          what: "reader at the writer's head",
        });
      const url = `http://127.0.0.1:${reader.port}/`;
      const aUrl = `http://127.0.0.1:${archive.port}/`;
      const tip = reader.db.tip()?.height as number;
      assert.equal(reader.db.earliest(), 0, "synced from genesis through the segments");
      const recent: { method: string; params: unknown[] }[] = [];
      for (let h = tip - 16; h <= tip; h++)
        for (const a of [...DEV, ...Object.values(gen.manifest().contracts ?? {})])
          recent.push(
            { method: "eth_getBalance", params: [a, hex(h)] },
            { method: "eth_getTransactionCount", params: [a, hex(h)] },
          );
      const [ours, theirs] = await Promise.all([rpcBatch(url, recent), rpcBatch(anvil.url, recent)]);
      recent.forEach((c, i) => {
        assert.deepEqual(ours[i]?.result, theirs[i]?.result, `${c.method} ${JSON.stringify(c.params)}`);
      });
      for (const h of [0, 5, tip - 40, tip - 17]) {
        const r = await rpc(url, "eth_getBalance", [DEV[0], hex(h)]);
        assert.equal(r.error?.code, -32000, `state at ${h}: ${JSON.stringify(r)}`);
        assert.match(r.error?.message ?? "", /not kept.*full/);
        // Block data stays: the block itself is served.
        assert.ok((await rpc(url, "eth_getBlockByNumber", [hex(h), false])).result);
        // The archive reader answers it, as the upstream.
        assert.deepEqual(
          (await rpc(aUrl, "eth_getBalance", [DEV[0], hex(h)])).result,
          await rpcResult(anvil.url, "eth_getBalance", [DEV[0], hex(h)]),
        );
      }
      // Snapshots streamed from the archive database's rows, at several heights: each one's root,
      // recomputed from its chunks, is the header's (or it would not be written), and the state
      // equals the one built from the store's blocks.
      const copyDir = join(dir, "store-archiver");
      await cp(join(dir, "store"), copyDir, { recursive: true });
      const local = new ChainStore(new FsStore({ dir: copyDir, fsync: false }), "primary", anvil.chainId);
      const snaps = new ArchiverSnapshots(
        { every: { blocks: 1 }, keep: 10, chunkEntries: 25 },
        { local, remote: local, logger, state: archive.db },
      );
      for (const h of [3, 47, tip - 8]) {
        const m = await snaps.fromState(h);
        assert.ok(m, `snapshot at ${h}`);
        const header = await rpcResult<{ stateRoot: string }>(anvil.url, "eth_getBlockByNumber", [
          hex(h),
          false,
        ]);
        assert.equal(m.stateRoot, header.stateRoot, `state root at ${h}`);
      }
      const fromDb = await readManifest(local, {
        height: tip - 8,
        manifestKey: `${local.root}snapshots/${String(tip - 8).padStart(12, "0")}/manifest.json`,
      });
      const flat = async (c: ChainStore, refs: typeof fromDb.chunks) =>
        (await Promise.all(refs.map((r) => readChunk(c, r)))).flatMap((x) => x.accounts);
      const built = await createSnapshot(chain, { height: tip - 8, chunkEntries: 25 }, { logger });
      assert.deepEqual(await flat(local, fromDb.chunks), await flat(chain, built.chunks));
    } finally {
      await reader.close();
      await archive.close();
    }
  });
});
