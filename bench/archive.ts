/**
 * `npm run bench:archive` (part of `npm run bench`): the archiver's figures on the sync bench's
 * chain (BENCH_SYNC_TXS transactions, default 1,000,000; built and cached by `bench/sync.ts
 * --build-only` when missing; `--quick` or BENCH_QUICK=1: a tenth), in one run:
 *   1. an archiver (`chainkeep archiver`) from the chain's start to durable = head: time, peak
 *      memory, and its disk bytes per transaction (database + local copy), beside anvil's state
 *      dump of the same chain and the raw JSON-RPC size of its blocks and receipts;
 *   2. a snapshot streamed from the archive database with its state root proven: time, peak RSS;
 *   3. a new reader restoring it with --verify-state-root to LIVE: time, peak RSS;
 *   4. `recover store` from the archiver into an empty directory: MB/s and blocks/s;
 *   5. `export --format ere` from the database and from the store, and `export verify`: blocks/s;
 *   6. bounded memory: a synthetic state of BENCH_STATE_ACCOUNTS accounts (default 1,000,000)
 *      and BENCH_STATE_SLOTS storage slots (default 10,000,000, over 10,000 contracts) through the
 *      state-root builder and the chunk encoder, at a tenth and at full size: time and peak RSS.
 * Writes bench/results/archive-<date>.json.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ArchiverSnapshots, readBlocks, StateRootBuilder } from "../src/archive/index.ts";
import { encodeJsonGz, type SnapshotAccount } from "../src/format/index.ts";
import { ChainDb } from "../src/reader/index.ts";
import { ChainStore, FsStore, onlyChainId } from "../src/store/index.ts";
import { killOnExit } from "../src/util/children.ts";
import { createLogger } from "../src/util/logger.ts";
import { freePort } from "../src/util/net.ts";
import { anonMb, peakMb } from "./proc.ts";

const QUICK = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1";
const BIN = fileURLToPath(new URL("../bin/chainkeep.js", import.meta.url));
const ROOT = fileURLToPath(new URL(".", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? "warn", base: { role: "bench" } });

function say(msg: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

async function du(path: string): Promise<number> {
  const s = await stat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let n = 0;
  for (const e of await readdir(path)) n += await du(join(path, e));
  return n;
}

/** Runs a command to its end, sampling its peak RSS; resolves with its stdout, time and peak. */
async function run(
  args: string[],
  opts: { node?: string[] } = {},
): Promise<{ out: string; seconds: number; peakMb: number; peakAnonMb: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [...(opts.node ?? []), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, CHAINKEEP_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn" },
  });
  killOnExit(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  let peak = 0;
  let anon = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, peakMb(child.pid as number) || 0);
    anon = Math.max(anon, anonMb(child.pid as number) || 0);
  }, 100);
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  clearInterval(timer);
  if (code !== 0) throw new Error(`${args.join(" ")} exited ${code}\n${out}`);
  return { out, seconds: (Date.now() - started) / 1000, peakMb: peak, peakAnonMb: anon };
}

async function waitFor(
  what: string,
  ok: () => Promise<boolean>,
  child: ChildProcess,
  timeoutMs = 3_600_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (child.exitCode !== null) throw new Error(`${what}: the process exited`);
    if (Date.now() > until) throw new Error(`${what}: timed out`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---- child modes: one measurement per process, so that its peak RSS is its own ----

/** `--snapshot-child <dataDir> <height>`: a snapshot streamed from an archive database into its local copy. */
async function snapshotChild(dataDir: string, height: number): Promise<void> {
  const info = await ChainDb.readInfo(dataDir);
  if (!info) throw new Error(`no database at ${dataDir}`);
  const db = new ChainDb({ path: dataDir, chainId: info.chainId, readOnly: true });
  const local = new ChainStore(
    new FsStore({ dir: join(dataDir, "archive"), fsync: true }),
    info.prefix,
    info.chainId,
  );
  const snaps = new ArchiverSnapshots(
    { every: { blocks: 1 }, keep: 10 },
    { local, remote: local, logger, state: db },
  );
  const t0 = Date.now();
  const m = await snaps.fromState(height);
  if (!m) throw new Error(`the database does not hold state at ${height}`);
  process.stdout.write(
    `${JSON.stringify({ height: m.height, seconds: (Date.now() - t0) / 1000, stateRoot: m.stateRoot, chunks: m.chunks.length, ...m.totals })}\n`,
  );
  await db.close();
  process.exit(0);
}

/** `--state-child <accounts> <slots>`: a synthetic state through the state-root builder and the chunk encoder. */
async function stateChild(accounts: number, slots: number): Promise<void> {
  const contracts = Math.max(1, Math.min(accounts, Math.floor(slots / 1000)));
  const perContract = Math.floor(slots / contracts);
  const dir = await mkdtemp(join(tmpdir(), "ck-bench-state-"));
  const hex = (n: number, bytes: number) => `0x${n.toString(16).padStart(bytes * 2, "0")}`;
  const t0 = Date.now();
  const roots = await StateRootBuilder.open(dir);
  let chunk: SnapshotAccount[] = [];
  let inChunk = 0;
  let chunkBytes = 0;
  const flush = async () => {
    roots.add(chunk);
    chunkBytes += (await encodeJsonGz({ version: 1, accounts: chunk })).length;
    chunk = [];
    inChunk = 0;
  };
  for (let i = 0; i < accounts; i++) {
    const storage: [string, string][] = [];
    if (i < contracts)
      for (let j = 0; j < perContract; j++) storage.push([hex(j, 32), hex(i * perContract + j + 1, 32)]);
    const codeHash =
      i < contracts ? hex(i + 1, 32) : "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
    chunk.push([hex(i + 1, 20), hex(1_000_000 + i, 8), hex(i % 100, 1), codeHash, null, storage]);
    inChunk += 1 + storage.length;
    if (inChunk >= 50_000) await flush();
  }
  if (chunk.length) await flush();
  const t1 = Date.now();
  const root = roots.root();
  await roots.close();
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(
    `${JSON.stringify({ accounts, slots: contracts * perContract, feedSeconds: (t1 - t0) / 1000, rootSeconds: (Date.now() - t1) / 1000, chunkBytes, root })}\n`,
  );
  process.exit(0);
}

if (process.argv.includes("--snapshot-child")) {
  const i = process.argv.indexOf("--snapshot-child");
  await snapshotChild(process.argv[i + 1] as string, Number(process.argv[i + 2]));
}
if (process.argv.includes("--state-child")) {
  const i = process.argv.indexOf("--state-child");
  await stateChild(Number(process.argv[i + 1]), Number(process.argv[i + 2]));
}

// ---- the run ----

const built = JSON.parse(
  (
    await run([join(ROOT, "sync.ts"), "--build-only", ...(QUICK ? ["--quick"] : [])], {
      node: ["--import", "tsx"],
    })
  ).out
    .trim()
    .split("\n")
    .pop() as string,
) as { cache: string; head: number; txs: number; blocks: number };
const store = join(built.cache, "store");
const work = await mkdtemp(join(tmpdir(), "ck-bench-archive-"));
say(`archive bench on ${built.txs} tx in ${built.head} blocks (${store})`);
const results: Record<string, unknown> = { date: new Date().toISOString(), quick: QUICK, chain: built };
try {
  // 1. The archiver from the chain's start to durable = head.
  const dataDir = join(work, "archiver");
  const port = await freePort();
  const t0 = Date.now();
  const archiver = spawn(
    process.execPath,
    [
      BIN,
      "archiver",
      "--store",
      store,
      "--data-dir",
      dataDir,
      "--rpc-port",
      String(port),
      "--snapshot-every",
      "100000000b",
      "--progress",
      "off",
    ],
    { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, CHAINKEEP_LOG_LEVEL: "warn" } },
  );
  killOnExit(archiver);
  const status = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
        chains: { durableHeight: number; height: number }[];
      }
    ).chains[0];
  await waitFor(
    "archiver durable at head",
    async () => {
      const s = await status();
      return s?.durableHeight === built.head && s.height === built.head;
    },
    archiver,
  );
  const archiveSeconds = (Date.now() - t0) / 1000;
  const archiverPeak = peakMb(archiver.pid as number);
  const dbBytes = await du(join(dataDir, "data.mdb"));
  const copyBytes = await du(join(dataDir, "archive"));
  const dumpBytes = statSync(join(built.cache, "anvil-state.json")).size;
  // The raw JSON-RPC size: eth_getBlockByNumber(full) and eth_getBlockReceipts results, as JSON.
  const chainId = await onlyChainId(new FsStore({ dir: store, fsync: false }), "primary");
  const chain = new ChainStore(new FsStore({ dir: store, fsync: false }), "primary", chainId);
  let rpcBytes = 0;
  for await (const batch of readBlocks(chain, 0, built.head)) {
    for (const b of batch)
      rpcBytes += JSON.stringify(b.bundle.block).length + JSON.stringify(b.bundle.receipts).length;
  }
  results.archiver = {
    seconds: archiveSeconds,
    blocksPerSecond: Math.round(built.head / archiveSeconds),
    peakMb: Math.round(archiverPeak),
    databaseBytes: dbBytes,
    localCopyBytes: copyBytes,
    bytesPerTx: Math.round((dbBytes + copyBytes) / built.txs),
    databaseBytesPerTx: Math.round(dbBytes / built.txs),
    anvilStateDumpBytes: dumpBytes,
    rawJsonRpcBytes: rpcBytes,
    rawJsonRpcBytesPerTx: Math.round(rpcBytes / built.txs),
  };
  say(
    `archiver: durable at ${built.head} in ${archiveSeconds.toFixed(1)} s, ${JSON.stringify(results.archiver)}`,
  );

  // 4. Recovery from the running archiver into an empty directory.
  const recovered = join(work, "recovered");
  const rec = await run([BIN, "recover", "store", "--to", recovered, "--from", `http://127.0.0.1:${port}/`]);
  const summary = JSON.parse(rec.out.slice(rec.out.indexOf("{"))) as {
    bytes: number;
    objects: number;
    ms: number;
  };
  results.recovery = {
    seconds: rec.seconds,
    objects: summary.objects,
    mb: Number((summary.bytes / 1e6).toFixed(1)),
    mbPerSecond: Number((summary.bytes / 1e6 / rec.seconds).toFixed(1)),
    blocksPerSecond: Math.round(built.head / rec.seconds),
    peakMb: Math.round(rec.peakMb),
    peakAnonMb: Math.round(rec.peakAnonMb),
  };
  say(`recover store: ${JSON.stringify(results.recovery)}`);
  archiver.kill("SIGTERM");
  await new Promise((r) => archiver.once("exit", r));

  // 2. A snapshot streamed from the archive database, its root proven.
  const finalized = built.head - 64;
  const snap = await run([SELF, "--snapshot-child", dataDir, String(finalized)], {
    node: ["--import", "tsx"],
  });
  results.snapshot = {
    ...(JSON.parse(snap.out.trim()) as object),
    wallSeconds: snap.seconds,
    peakMb: Math.round(snap.peakMb),
    peakAnonMb: Math.round(snap.peakAnonMb),
  };
  say(`snapshot from the archive database: ${JSON.stringify(results.snapshot)}`);

  // 3. A new reader restoring it (uploaded into a copy of the recovered store) with --verify-state-root.
  const local = new ChainStore(
    new FsStore({ dir: join(dataDir, "archive"), fsync: false }),
    "primary",
    chainId,
  );
  const target = new ChainStore(new FsStore({ dir: recovered, fsync: false }), "primary", chainId);
  const { uploadSnapshot, listSnapshots } = await import("../src/archive/index.ts");
  const mine = (await listSnapshots(local)).find((s) => s.height === finalized);
  if (mine) await uploadSnapshot(local, target, mine);
  const rport = await freePort();
  const r0 = Date.now();
  const reader = spawn(
    process.execPath,
    [
      BIN,
      "reader",
      "--store",
      recovered,
      "--data-dir",
      join(work, "reader"),
      "--rpc-port",
      String(rport),
      "--verify-state-root",
      "true",
      "--workers",
      "1",
      "--progress",
      "off",
    ],
    { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, CHAINKEEP_LOG_LEVEL: "warn" } },
  );
  killOnExit(reader);
  await waitFor(
    "reader LIVE",
    async () => (await fetch(`http://127.0.0.1:${rport}/health`)).status === 200,
    reader,
  );
  results.restore = {
    seconds: (Date.now() - r0) / 1000,
    peakMb: Math.round(peakMb(reader.pid as number)),
    verifyStateRoot: true,
  };
  say(`new reader restoring it (root recomputed) to LIVE: ${JSON.stringify(results.restore)}`);
  reader.kill("SIGTERM");
  await new Promise((r) => reader.once("exit", r));

  // 5. ere export (database and store) and verify.
  const ereDb = await run([
    BIN,
    "export",
    "--format",
    "ere",
    "--out",
    join(work, "ere-db"),
    "--data-dir",
    dataDir,
  ]);
  const ereStore = await run([
    BIN,
    "export",
    "--format",
    "ere",
    "--out",
    join(work, "ere-store"),
    "--store",
    store,
  ]);
  const ereVerify = await run([BIN, "export", "verify", join(work, "ere-db")]);
  const ereBytes = await du(join(work, "ere-db"));
  results.ere = {
    blocks: built.head + 1,
    mb: Number((ereBytes / 1e6).toFixed(1)),
    bytesPerTx: Math.round(ereBytes / built.txs),
    fromDatabase: {
      seconds: ereDb.seconds,
      blocksPerSecond: Math.round((built.head + 1) / ereDb.seconds),
      peakMb: Math.round(ereDb.peakMb),
      peakAnonMb: Math.round(ereDb.peakAnonMb),
    },
    fromStore: {
      seconds: ereStore.seconds,
      blocksPerSecond: Math.round((built.head + 1) / ereStore.seconds),
      peakMb: Math.round(ereStore.peakMb),
      peakAnonMb: Math.round(ereStore.peakAnonMb),
    },
    verify: {
      seconds: ereVerify.seconds,
      blocksPerSecond: Math.round((built.head + 1) / ereVerify.seconds),
      peakMb: Math.round(ereVerify.peakMb),
      peakAnonMb: Math.round(ereVerify.peakAnonMb),
    },
  };
  say(`ere: ${JSON.stringify(results.ere)}`);

  // 6. Bounded memory: a tenth, then the full synthetic state.
  const accounts = Number(process.env.BENCH_STATE_ACCOUNTS ?? (QUICK ? 100_000 : 1_000_000));
  const slots = Number(process.env.BENCH_STATE_SLOTS ?? (QUICK ? 1_000_000 : 10_000_000));
  const state: Record<string, unknown>[] = [];
  for (const f of [10, 1]) {
    const r = await run([SELF, "--state-child", String(accounts / f), String(slots / f)], {
      node: ["--import", "tsx"],
    });
    state.push({
      ...(JSON.parse(r.out.trim()) as object),
      wallSeconds: r.seconds,
      peakMb: Math.round(r.peakMb),
      peakAnonMb: Math.round(r.peakAnonMb),
    });
    say(`state root of a synthetic state: ${JSON.stringify(state[state.length - 1])}`);
  }
  results.boundedState = state;
} finally {
  await mkdir(join(ROOT, "results"), { recursive: true });
  const out = join(ROOT, "results", `archive-${String(results.date).replace(/[:.]/g, "-")}.json`);
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  say(`written ${out}`);
  await rm(work, { recursive: true, force: true });
}
process.exit(0);
