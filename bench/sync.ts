/**
 * `npm run bench:sync` (and the first half of `npm run bench`): how fast a NEW reader reaches LIVE.
 *
 * Builds (once, cached in bench/.cache/ keyed by the parameters) a chain of BENCH_SYNC_TXS
 * transactions (default 1,000,000) in BENCH_SYNC_BLOCKS blocks (default 10,000) on anvil — blocks
 * mined with `evm_mine`, automine off, transactions sent in JSON-RPC batches — committed to a
 * directory store by the writer (prefetching many blocks), then packed into segments and
 * snapshotted at the finalized height. Then, in one run, measures:
 *   1. a new reader from snapshot + segments to LIVE (`chainkeep reader`, /health 200);
 *   2. a new reader replaying every per-block bundle from genesis to LIVE (--snapshots false --segments false);
 *   3. anvil loading the same chain's state dump (`anvil --load-state`) until it answers, as a reference;
 * each with its peak memory (VmHWM). `--quick` (or BENCH_QUICK=1): a tenth of the size.
 * Writes bench/results/sync-<date>.json.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSnapshot, listSegments, Packer } from "../src/archive/index.ts";
import { MemoryBus } from "../src/bus/index.ts";
import { anvilBinary, spawnAnvil } from "../src/demo/anvil.ts";
import { ChainStore, FsStore } from "../src/store/index.ts";
import { HttpUpstream } from "../src/upstream/index.ts";
import { killOnExit } from "../src/util/children.ts";
import { systemClock } from "../src/util/clock.ts";
import { createLogger } from "../src/util/logger.ts";
import { freePort } from "../src/util/net.ts";
import { Writer } from "../src/writer/index.ts";
import { rpcResult as rpc } from "../test/helpers/net.ts";
import { anonMb, peakMb } from "./proc.ts";

const QUICK = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1";
const TXS = Number(process.env.BENCH_SYNC_TXS ?? (QUICK ? 100_000 : 1_000_000));
const BLOCKS = Number(process.env.BENCH_SYNC_BLOCKS ?? (QUICK ? 1_000 : 10_000));
const SEGMENT_BLOCKS = Number(process.env.BENCH_SYNC_SEGMENT ?? (QUICK ? 256 : 8192));
const SENDERS = 200;
const RECIPIENTS = 2_000;
const REORG_MAX = 64;
const BIN = fileURLToPath(new URL("../bin/chainkeep.js", import.meta.url));
const ROOT = fileURLToPath(new URL(".", import.meta.url));
const CACHE = join(ROOT, ".cache", `chain-v1-${TXS}tx-${BLOCKS}b-${SEGMENT_BLOCKS}seg`);
const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? "warn", base: { role: "bench" } });

function say(msg: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

async function batch(url: string, calls: { method: string; params: unknown[] }[]): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(calls.map((c, i) => ({ jsonrpc: "2.0", id: i, ...c }))),
  });
  const j = (await res.json()) as { error?: { message: string } }[];
  const bad = j.find((r) => r.error);
  if (bad) throw new Error(`batch: ${bad.error?.message}`);
}

/** Peak RSS of a process and its children (RPC workers), in MB. */
function treePeakMb(pid: number): number {
  let sum = peakMb(pid);
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const k of kids) sum += peakMb(Number(k));
  } catch {}
  return sum;
}

async function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((r) => child.once("exit", r));
}

// ---- the chain (built once, cached) ----

/** `bench/sync.ts --writer-child <url> <store>`: a writer process reporting its height on stdout. */
async function writerChild(url: string, dir: string): Promise<void> {
  const chainId = Number(await rpc<string>(url, "eth_chainId"));
  const chain = new ChainStore(new FsStore({ dir, fsync: false }), "primary", chainId);
  const writer = new Writer(
    { crossCheck: "off", pollInterval: 20, reorgMax: REORG_MAX, prefetch: 8, subscribe: false },
    {
      upstream: new HttpUpstream({ url }, { logger }),
      chain,
      bus: new MemoryBus(),
      clock: systemClock,
      logger,
    },
  );
  await writer.start();
  const timer = setInterval(() => process.stdout.write(`${writer.status().height}\n`), 100);
  process.on("SIGTERM", () => {
    clearInterval(timer);
    writer.stop().then(() => process.exit(0));
  });
}

function spawnWriter(url: string, dir: string): { status(): { height: number }; stop(): Promise<void> } {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(import.meta.url), "--writer-child", url, dir],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  killOnExit(child);
  let height = -1;
  let buf = "";
  child.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    const last = lines[lines.length - 1];
    if (last) height = Number(last);
  });
  return {
    status: () => ({ height }),
    async stop() {
      child.kill("SIGTERM");
      await waitExit(child);
    },
  };
}

async function buildChain(): Promise<{ head: number }> {
  const marker = join(CACHE, "done.json");
  if (existsSync(marker)) {
    const done = JSON.parse(readFileSync(marker, "utf8")) as { head: number };
    say(`chain: cached in ${CACHE} (head ${done.head})`);
    return done;
  }
  await rm(CACHE, { recursive: true, force: true });
  await mkdir(CACHE, { recursive: true });
  const stateFile = join(CACHE, "anvil-state.json");
  const anvil = await spawnAnvil({
    args: [
      "--no-mining",
      "--accounts",
      String(SENDERS),
      "--balance",
      "1000000",
      "--gas-limit",
      "100000000",
      "--dump-state",
      stateFile,
      // States of recent blocks in memory only: the writer traces each block while it is recent.
      "--prune-history",
      "256",
      "--silent",
    ],
  });
  const store = new FsStore({ dir: join(CACHE, "store"), fsync: false });
  const chain = new ChainStore(store, "primary", anvil.chainId);
  // The writer (a process of its own: the other core) follows as blocks are mined — anvil keeps
  // only recent states, tracing old blocks would replay the chain — and mining waits when the
  // writer is more than 128 blocks behind.
  const writer = spawnWriter(anvil.url, join(CACHE, "store"));
  while (writer.status().height < 0) await new Promise((r) => setTimeout(r, 50));
  const senders = await rpc<string[]>(anvil.url, "eth_accounts");
  const recipients = Array.from(
    { length: RECIPIENTS },
    (_, i) => `0x${(0x1000000 + i).toString(16).padStart(40, "0")}`,
  );
  const perBlock = Math.ceil(TXS / BLOCKS);
  const started = Date.now();
  let sent = 0;
  for (let b = 1; b <= BLOCKS; b++) {
    const n = Math.min(perBlock, TXS - sent);
    const calls = Array.from({ length: n }, (_, i) => {
      const k = sent + i;
      return {
        method: "eth_sendTransaction",
        params: [
          {
            from: senders[k % SENDERS],
            to: recipients[(k * 7919) % RECIPIENTS],
            value: `0x${(1000 + (k % 1000)).toString(16)}`,
            gas: "0x5208",
          },
        ],
      };
    });
    while (writer.status().height < b - 128) await new Promise((r) => setTimeout(r, 20));
    if (n > 0) await batch(anvil.url, calls);
    await rpc(anvil.url, "evm_mine");
    sent += n;
    if (b % 500 === 0) {
      const s = (Date.now() - started) / 1000;
      say(
        `chain: block ${b}/${BLOCKS}, ${sent} tx, ${(sent / s).toFixed(0)} tx/s, writer at ${writer.status().height}`,
      );
    }
  }
  const head = Number(await rpc<string>(anvil.url, "eth_blockNumber"));
  say(`chain: ${sent} tx in ${head} blocks mined in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const committing = Date.now();
  while (writer.status().height < head) await new Promise((r) => setTimeout(r, 200));
  await writer.stop();
  say(`chain: committed by the writer in ${((Date.now() - committing) / 1000).toFixed(0)} s`);
  // anvil writes --dump-state on exit, which takes longer than stop() waits before SIGKILL (5 s).
  const exited = new Promise((r) => anvil.process.once("exit", r));
  anvil.process.kill("SIGTERM");
  await exited;
  if (!existsSync(stateFile)) throw new Error("anvil wrote no state dump");
  const t0 = Date.now();
  const r = await new Packer({ segmentBlocks: SEGMENT_BLOCKS }, { chain, logger }).packOnce();
  say(`pack: ${r.written.length} segments in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const t1 = Date.now();
  const m = await createSnapshot(chain, {}, { logger });
  say(
    `snapshot: height ${m.height}, ${m.chunks.length} chunks, ${m.totals.accounts} accounts, ` +
      `${(m.totals.bytes / 1e6).toFixed(1)} MB in ${((Date.now() - t1) / 1000).toFixed(1)} s`,
  );
  const done = {
    head,
    txs: sent,
    blocks: head,
    segments: (await listSegments(chain)).length,
    snapshot: m.height,
  };
  await writeFile(marker, JSON.stringify(done));
  return done;
}

// ---- the measurements ----

interface Timing {
  seconds: number;
  /** Peak resident set (VmHWM), including LMDB's mapped file pages. */
  peakMb: number;
  /** Peak anonymous memory (sampled every 100 ms): the process's own heap and buffers. */
  peakAnonMb?: number;
}

async function readerToLive(name: string, extra: string[]): Promise<Timing> {
  const dataDir = await mkdtemp(join(tmpdir(), `ck-bench-${name}-`));
  const port = await freePort();
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      BIN,
      "reader",
      "--store",
      join(CACHE, "store"),
      "--data-dir",
      dataDir,
      "--rpc-port",
      String(port),
      "--workers",
      "1",
      "--poll-interval",
      "200",
      "--progress",
      "log",
      ...extra,
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, CHAINKEEP_LOG_LEVEL: "info" } },
  );
  killOnExit(child);
  let tail = "";
  child.stderr?.on("data", (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  let peak = 0;
  let anon = 0;
  try {
    for (;;) {
      peak = Math.max(peak, treePeakMb(child.pid as number));
      anon = Math.max(anon, anonMb(child.pid as number) || 0);
      if (child.exitCode !== null) throw new Error(`reader exited\n${tail}`);
      const ok = await fetch(`http://127.0.0.1:${port}/health`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (Date.now() - started) / 1000;
    peak = Math.max(peak, treePeakMb(child.pid as number));
    say(
      `${name}: LIVE in ${seconds.toFixed(1)} s, peak ${peak.toFixed(0)} MB (anonymous ${anon.toFixed(0)} MB)`,
    );
    return { seconds, peakMb: peak, peakAnonMb: anon };
  } finally {
    child.kill("SIGKILL");
    await waitExit(child);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function anvilLoadState(head: number): Promise<Timing> {
  const port = await freePort();
  const started = Date.now();
  const child = spawn(
    anvilBinary(),
    ["--port", String(port), "--load-state", join(CACHE, "anvil-state.json"), "--silent"],
    {
      stdio: "ignore",
    },
  );
  killOnExit(child);
  let peak = 0;
  try {
    for (;;) {
      peak = Math.max(peak, peakMb(child.pid as number));
      if (child.exitCode !== null) throw new Error("anvil exited");
      const n = await rpc<string>(`http://127.0.0.1:${port}`, "eth_blockNumber").catch(() => undefined);
      if (n !== undefined) {
        if (Number(n) !== head) say(`anvil --load-state: head ${Number(n)} (chain head ${head})`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (Date.now() - started) / 1000;
    peak = Math.max(peak, peakMb(child.pid as number));
    say(`anvil --load-state: answering in ${seconds.toFixed(1)} s, peak ${peak.toFixed(0)} MB`);
    return { seconds, peakMb: peak };
  } finally {
    child.kill("SIGKILL");
    await waitExit(child);
  }
}

if (process.argv.includes("--writer-child")) {
  const i = process.argv.indexOf("--writer-child");
  await writerChild(process.argv[i + 1] as string, process.argv[i + 2] as string);
  await new Promise(() => {});
}
const built = await buildChain();
if (process.argv.includes("--build-only")) {
  // The chain for the other benches (bench/archive.ts): built and cached, nothing measured.
  process.stdout.write(`${JSON.stringify({ cache: CACHE, ...built })}\n`);
  process.exit(0);
}
say(`measuring on ${TXS} tx in ${BLOCKS} blocks (segments of ${SEGMENT_BLOCKS}, reorgMax ${REORG_MAX})`);
const snapshot = await readerToLive("snapshot+segments", []);
const replay = await readerToLive("replay from genesis", ["--snapshots", "false", "--segments", "false"]);
const anvil = await anvilLoadState(built.head);
const results = {
  date: new Date().toISOString(),
  quick: QUICK,
  txs: TXS,
  blocks: BLOCKS,
  segmentBlocks: SEGMENT_BLOCKS,
  chain: built,
  toLive: { snapshotAndSegments: snapshot, replayFromGenesis: replay, anvilLoadState: anvil },
  speedup: Number((replay.seconds / snapshot.seconds).toFixed(1)),
  targetMet: snapshot.seconds < 60 && replay.seconds / snapshot.seconds >= 10,
};
await mkdir(join(ROOT, "results"), { recursive: true });
const out = join(ROOT, "results", `sync-${results.date.replace(/[:.]/g, "-")}.json`);
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
say(
  `new reader to LIVE: snapshot+segments ${snapshot.seconds.toFixed(1)} s (${snapshot.peakMb.toFixed(0)} MB), ` +
    `replay ${replay.seconds.toFixed(1)} s (${replay.peakMb.toFixed(0)} MB), ` +
    `anvil --load-state ${anvil.seconds.toFixed(1)} s (${anvil.peakMb.toFixed(0)} MB); ` +
    `${results.speedup}x faster than replay; written ${out}`,
);
process.exit(0);
