/**
 * `npm run bench`: the mirror's figures, each side by side with the upstream in one run.
 * Prints a table and writes bench/results/<timestamp>.json. Sizes: BENCH_BLOCKS (default 200)
 * blocks of BENCH_TXS (default 100) transactions; BENCH_SECONDS per load test (default 5);
 * BENCH_ROUNDS (default 1) load tests per method and side, alternating reader and anvil, of which
 * the median is reported (the machine is shared with the load generator and often with more).
 * BENCH_WORKERS (default: the reader's default) is passed to the reader as `--workers`.
 * Head lag is measured with a directory store and the file-system bus, then with S3 (s3rver on
 * loopback, in this process) and NATS JetStream (nats-server, see scripts/ensure-nats.sh), at the
 * same pace and at a block every 250 ms.
 * Reorgs: BENCH_REORG_DEPTH (default 64, at most BENCH_BLOCKS − 1) blocks unwound and re-applied
 * in one ChainDb transaction, and BENCH_REORG_TRIES (default 3) anvil_reorgs of that depth whose
 * added lag (reorg on the upstream → new head served by the reader) is measured.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { encodeFunctionData } from "viem";
import WebSocket from "ws";
import { MemoryBus } from "../src/bus/index.ts";
import { spawnAnvil } from "../src/demo/anvil.ts";
import { CONTRACTS, TrafficGenerator } from "../src/demo/index.ts";
import { ChainDb, Replicator } from "../src/reader/index.ts";
import { ChainStore, FsStore } from "../src/store/index.ts";
import { HttpUpstream } from "../src/upstream/index.ts";
import { systemClock } from "../src/util/clock.ts";
import { silentLogger } from "../src/util/logger.ts";
import { freePort } from "../src/util/net.ts";
import { Writer } from "../src/writer/index.ts";
import { startNatsServer } from "../test/helpers/nats.ts";
import { rpcResult as rpc } from "../test/helpers/net.ts";
import { S3RVER_CREDENTIALS, startS3rver } from "../test/helpers/s3rver.ts";

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 200);
const TXS = Number(process.env.BENCH_TXS ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LAG_BLOCKS = Number(process.env.BENCH_LAG_BLOCKS ?? 100);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
const WORKERS = process.env.BENCH_WORKERS;
const REORG_DEPTH = Math.max(1, Math.min(Number(process.env.BENCH_REORG_DEPTH ?? 64), BLOCKS - 1));
const REORG_TRIES = Math.max(1, Number(process.env.BENCH_REORG_TRIES ?? 3));
const BIN = fileURLToPath(new URL("../bin/chainkeep.js", import.meta.url));
const logger = silentLogger();
const results: Record<string, unknown> = { date: new Date().toISOString(), blocks: BLOCKS, txsPerBlock: TXS };

/**
 * CPU time (user + system) used so far by process `pid` and its child processes (a reader's RPC
 * workers), in seconds, from Linux's /proc; NaN elsewhere. Throughput depends on what else the
 * machine runs; CPU time per request much less.
 */
function cpuSeconds(pid: number): number {
  const TICKS_PER_SECOND = 100; // USER_HZ on Linux
  let ticks = 0;
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      } catch {
        continue; // exited meanwhile
      }
      // Fields after "(comm) ": state, ppid, …, utime (14th field overall), stime (15th).
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(entry) === pid || Number(f[1]) === pid) ticks += Number(f[11]) + Number(f[12]);
    }
  } catch {
    return Number.NaN;
  }
  return ticks / TICKS_PER_SECOND;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Subscribes to newHeads at `url` and records when each head hash arrives (performance.now()). */
function watch(url: string, seen: Map<string, number>): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve) => {
    const ws = new WebSocket(url);
    ws.on("open", () => {
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
      resolve(ws);
    });
    ws.on("message", (d) => {
      const m = JSON.parse(d.toString()) as { params?: { result: { hash: string } } };
      if (m.params) seen.set(m.params.result.hash, performance.now());
    });
  });
}

function line(label: string, value: string): void {
  console.log(`${label.padEnd(44)} ${value}`);
}

const dir = await mkdtemp(join(tmpdir(), "ck-bench-"));
const children: ChildProcess[] = [];
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
const anvil = await spawnAnvil({ port: await freePort() });
try {
  // ---- build the chain: BLOCKS blocks of TXS transactions ----
  const gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: 31337 }, { logger });
  const contracts = await gen.deploy();
  await rpc(anvil.url, "evm_setAutomine", [false]);
  let t0 = performance.now();
  for (let b = 0; b < BLOCKS; b++) {
    await gen.sendBatch(TXS);
    await rpc(anvil.url, "evm_mine", []);
  }
  await rpc(anvil.url, "evm_setAutomine", [true]);
  const head = Number(await rpc<string>(anvil.url, "eth_blockNumber"));
  const built = (performance.now() - t0) / 1000;
  console.log(
    `chain: ${head + 1} blocks, ~${BLOCKS * TXS} bench transactions, built in ${built.toFixed(1)} s\n`,
  );

  /**
   * Sends LAG_BLOCKS transactions `intervalMs` apart (automine: a block each) and measures, per
   * block, the time from anvil's newHeads notification to the reader's.
   */
  async function measureHeadLag(
    readerUrl: string,
    intervalMs = 50,
  ): Promise<{ blocks: number; p50: number; p99: number; max: number; intervalMs: number }> {
    const seenUp = new Map<string, number>();
    const seenReader = new Map<string, number>();
    const wsUp = await watch(anvil.wsUrl, seenUp);
    const wsReader = await watch(readerUrl.replace("http", "ws"), seenReader);
    for (let i = 0; i < LAG_BLOCKS; i++) {
      await gen.sendBatch(1);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    await gen.settle();
    await new Promise((r) => setTimeout(r, 1500));
    const lags = [...seenUp]
      .filter(([h]) => seenReader.has(h))
      .map(([h, t]) => (seenReader.get(h) as number) - t);
    lags.sort((a, b) => a - b);
    wsUp.close();
    wsReader.close();
    return {
      blocks: lags.length,
      p50: pct(lags, 50),
      p99: pct(lags, 99),
      max: lags[lags.length - 1] ?? Number.NaN,
      intervalMs,
    };
  }

  // ---- writer ingest ----
  const storeDir = join(dir, "store");
  const store = new FsStore({ dir: storeDir });
  const chain = new ChainStore(store, "primary", 31337);
  const ingest: Record<string, unknown> = {};
  for (const crossCheck of ["off", "always"] as const) {
    const s =
      crossCheck === "off"
        ? chain
        : new ChainStore(new FsStore({ dir: join(dir, "store-cc") }), "primary", 31337);
    const w = new Writer(
      { crossCheck, pollInterval: 50, subscribe: false },
      {
        upstream: new HttpUpstream({ url: anvil.url }, { logger }),
        chain: s,
        bus: new MemoryBus(),
        clock: systemClock,
        logger,
      },
    );
    t0 = performance.now();
    await w.start();
    await new Promise<void>((resolve) => {
      const check = () => (w.status().height >= head ? resolve() : setTimeout(check, 20));
      check();
    });
    const secs = (performance.now() - t0) / 1000;
    await w.stop();
    const st = w.status();
    ingest[crossCheck] = {
      seconds: secs,
      blocksPerSec: st.blocksCommitted / secs,
      txPerSec: st.txsCommitted / secs,
    };
    line(
      `writer ingest (cross-check ${crossCheck})`,
      `${(st.blocksCommitted / secs).toFixed(1)} blocks/s, ${(st.txsCommitted / secs).toFixed(0)} tx/s`,
    );
  }
  results.writerIngest = ingest;

  // ---- reader apply ----
  const db = new ChainDb({ path: join(dir, "apply-db"), chainId: 31337 });
  const rep = new Replicator({ pollInterval: 50 }, { chain, db, bus: new MemoryBus(), logger });
  t0 = performance.now();
  await rep.start();
  await rep.waitFor(head, 600_000);
  const applySecs = (performance.now() - t0) / 1000;
  await rep.stop();
  const rs = rep.status();
  results.readerApply = {
    seconds: applySecs,
    blocksPerSec: rs.blocksApplied / applySecs,
    txPerSec: rs.txsApplied / applySecs,
  };
  line(
    "reader apply (bundles already in the store)",
    `${(rs.blocksApplied / applySecs).toFixed(1)} blocks/s, ${(rs.txsApplied / applySecs).toFixed(0)} tx/s`,
  );

  // ---- reorg: unwind REORG_DEPTH blocks of ~TXS transactions and apply a branch of as many ----
  // The branch is the same blocks read again from the store (a valid branch: it links to the
  // ancestor and its pre-values match), so the figure is the database's cost of a reorg.
  {
    const ancestor = head - REORG_DEPTH;
    t0 = performance.now();
    const branch = [];
    for (let h = ancestor + 1; h <= head; h++) {
      const ref = await chain.canonicalHead(h);
      if (!ref) throw new Error(`no head record at ${h}`);
      const rec = await chain.readHead(ref);
      branch.push({ rec, bundle: await chain.readBundle(rec) });
    }
    const loadSecs = (performance.now() - t0) / 1000;
    const txs = branch.reduce((n, b) => n + b.bundle.block.transactions.length, 0);
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      t0 = performance.now();
      db.reorg(ancestor, branch);
      runs.push((performance.now() - t0) / 1000);
    }
    runs.sort((a, b) => a - b);
    const secs = runs[1] as number;
    results.reorgUnwindApply = {
      depth: REORG_DEPTH,
      txs,
      seconds: secs,
      runs,
      loadAndVerifySeconds: loadSecs,
    };
    line(
      `reorg ${REORG_DEPTH} blocks (${txs} txs): unwind + apply`,
      `${(secs * 1000).toFixed(0)} ms in one transaction (median of 3); load + verify ${(loadSecs * 1000).toFixed(0)} ms`,
    );
  }
  await db.close();

  // ---- head lag: writer and reader as processes, file-system bus ----
  const rpcPort = await freePort();
  const readerUrl = `http://127.0.0.1:${rpcPort}/`;
  const start = (args: string[], env: Record<string, string> = {}) => {
    const c = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, CHAINKEEP_LOG_LEVEL: "warn", ...env },
    });
    children.push(c);
    return c;
  };
  start(["writer", "--upstream", anvil.wsUrl, "--store", storeDir]);
  const readerProcess = start([
    "reader",
    "--store",
    storeDir,
    "--data-dir",
    join(dir, "lag-db"),
    "--rpc-port",
    String(rpcPort),
    "--upstream",
    anvil.url,
    "--history",
    "archive",
    ...(WORKERS !== undefined ? ["--workers", WORKERS] : []),
  ]);
  for (;;) {
    const h = await rpc<string>(readerUrl, "eth_blockNumber").catch(() => "-0x1");
    if (Number(h) >= head) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const fsLag = await measureHeadLag(readerUrl);
  results.headLagMs = fsLag;
  line(
    "head lag upstream → reader (fs bus)",
    `p50 ${fsLag.p50.toFixed(1)} ms, p99 ${fsLag.p99.toFixed(1)} ms (${fsLag.blocks} blocks, one per ~50 ms)`,
  );

  // ---- RPC throughput, reader vs anvil, same load ----
  const bigBlock = `0x${Math.max(1, head - 5).toString(16)}`;
  const tip = Number(await rpc<string>(anvil.url, "eth_blockNumber"));
  const balanceOf = encodeFunctionData({
    abi: CONTRACTS.Token.abi,
    functionName: "balanceOf",
    args: [gen.accounts[1]],
  });
  // Each request asks for the balance of a fresh random address: never the same request twice,
  // so no answer cache can serve it (the uncached cost of a call).
  const randomBalanceOf = () => ({
    jsonrpc: "2.0",
    id: 1,
    method: "eth_call",
    params: [
      {
        to: contracts.token,
        data: encodeFunctionData({
          abi: CONTRACTS.Token.abi,
          functionName: "balanceOf",
          args: [`0x${randomBytes(20).toString("hex")}`],
        }),
      },
      "latest",
    ],
  });
  const requests: Record<string, unknown[] | (() => unknown)> = {
    eth_blockNumber: [],
    eth_getBlockByNumber: [bigBlock, true],
    eth_getBalance: [gen.accounts[1], "latest"],
    eth_getLogs: [
      {
        fromBlock: `0x${Math.max(0, tip - 100).toString(16)}`,
        toBlock: `0x${tip.toString(16)}`,
        address: contracts.token,
      },
    ],
    eth_call: [{ to: contracts.token, data: balanceOf }, "latest"],
    "eth_call (random holder)": randomBalanceOf,
  };
  const constServer = createServer((_q, s) =>
    s.writeHead(200, { "content-type": "application/json" }).end('{"jsonrpc":"2.0","id":1,"result":"0x1"}'),
  );
  const constPort = await freePort();
  await new Promise<void>((r) => constServer.listen(constPort, "127.0.0.1", () => r()));
  const load = async (url: string, method: string, params: unknown[] | (() => unknown), pid?: number) => {
    const cpu0 = pid === undefined ? Number.NaN : cpuSeconds(pid);
    const r = await autocannon({
      url,
      connections: 16,
      duration: SECONDS,
      method: "POST",
      headers: { "content-type": "application/json" },
      ...(typeof params === "function"
        ? {
            requests: [
              {
                setupRequest: (req: autocannon.Request) => ({ ...req, body: JSON.stringify(params()) }),
              },
            ],
          }
        : { body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) }),
    });
    const cpu = pid === undefined ? Number.NaN : cpuSeconds(pid) - cpu0;
    return {
      rps: r.requests.average,
      p99ms: r.latency.p99,
      errors: r.errors + r.non2xx,
      cpuUsPerReq: (cpu * 1e6) / Math.max(1, r.requests.total),
    };
  };
  type Load = Awaited<ReturnType<typeof load>>;
  const median = (runs: Load[]): Load & { runs: number[] } => {
    const sorted = [...runs].sort((a, b) => a.rps - b.rps);
    const m = sorted[Math.floor(sorted.length / 2)] as Load;
    const cpu = runs.map((r) => r.cpuUsPerReq).sort((a, b) => a - b);
    return {
      ...m,
      cpuUsPerReq: cpu[Math.floor(cpu.length / 2)] as number,
      errors: runs.reduce((n, r) => n + r.errors, 0),
      runs: runs.map((r) => r.rps),
    };
  };
  const throughput: Record<string, unknown> = {};
  const base = await load(`http://127.0.0.1:${constPort}/`, "eth_blockNumber", []);
  if (WORKERS !== undefined) results.readerWorkers = Number(WORKERS);
  results.rounds = ROUNDS;
  throughput.bareNodeHttp = base;
  line("bare node:http constant (ceiling)", `${base.rps.toFixed(0)} req/s, p99 ${base.p99ms} ms`);
  constServer.close();
  console.log(
    `\n${"method".padEnd(26)} ${"reader req/s".padStart(13)} ${"p99".padStart(6)} ${"anvil req/s".padStart(12)} ${"p99".padStart(6)} ${"ratio".padStart(6)}   CPU µs/req reader / anvil`,
  );
  for (const [name, params] of Object.entries(requests)) {
    const method = name.split(" ")[0] as string;
    const oursRuns: Load[] = [];
    const theirsRuns: Load[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      oursRuns.push(await load(readerUrl, method, params, readerProcess.pid));
      theirsRuns.push(await load(anvil.url, method, params, anvil.pid));
    }
    const ours = median(oursRuns);
    const theirs = median(theirsRuns);
    // The ratio of each round's back-to-back pair, median: load from elsewhere on the machine
    // hits both sides of a pair alike.
    const ratios = oursRuns.map((o, i) => o.rps / (theirsRuns[i] as Load).rps).sort((a, b) => a - b);
    const ratio = ratios[Math.floor(ratios.length / 2)] as number;
    throughput[name] = { reader: ours, anvil: theirs, ratio };
    console.log(
      `${name.padEnd(26)} ${ours.rps.toFixed(0).padStart(13)} ${`${ours.p99ms}`.padStart(6)} ${theirs.rps.toFixed(0).padStart(12)} ${`${theirs.p99ms}`.padStart(6)} ${ratio.toFixed(2).padStart(6)}   ${ours.cpuUsPerReq.toFixed(1)} / ${theirs.cpuUsPerReq.toFixed(1)}`,
    );
  }
  results.rpc = throughput;

  // ---- the lag a reorg adds: anvil_reorg on the upstream → the new head served by the reader ----
  {
    const seen = new Map<string, number>();
    const ws = await watch(readerUrl.replace("http", "ws"), seen);
    const lagsMs: number[] = [];
    for (let i = 0; i < REORG_TRIES; i++) {
      const txs = [
        [{ from: gen.accounts[0], to: gen.accounts[1], value: `0x${(1000 + i).toString(16)}` }, 0],
      ];
      const t = performance.now();
      await rpc(anvil.url, "anvil_reorg", [REORG_DEPTH, txs]);
      const newHead = await rpc<{ hash: string }>(anvil.url, "eth_getBlockByNumber", ["latest", false]);
      const deadline = Date.now() + 120_000;
      while (!seen.has(newHead.hash) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      lagsMs.push((seen.get(newHead.hash) ?? Number.NaN) - t);
      await new Promise((r) => setTimeout(r, 500));
    }
    ws.close();
    // The reorgs dropped the traffic's last transactions: take the senders' nonces from anvil again.
    await gen.resyncNonces();
    const sorted = [...lagsMs].sort((a, b) => a - b);
    results.reorgLagMs = {
      depth: REORG_DEPTH,
      tries: lagsMs,
      p50: pct(sorted, 50),
      max: sorted[sorted.length - 1],
    };
    line(
      `reorg ${REORG_DEPTH} deep → new head served`,
      `p50 ${pct(sorted, 50).toFixed(0)} ms, max ${(sorted[sorted.length - 1] as number).toFixed(0)} ms (${lagsMs.length} reorgs; head lag above for comparison)`,
    );
  }

  // ---- head lag through S3 (s3rver) and NATS JetStream: the writer and reader processes of the
  // fs figure stop first; the new pair starts at the current head (no history to copy) ----
  for (const c of children.splice(0)) {
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await exited;
  }
  const s3 = await startS3rver();
  const nats = await startNatsServer();
  try {
    const s3Env = {
      // The standard AWS credential chain: the store has no credentials of its own here.
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    const remote = [
      "--store",
      `s3://${s3.bucket}/bench`,
      "--s3-endpoint",
      s3.endpoint,
      "--nats-url",
      nats.url,
    ];
    const from = Number(await rpc<string>(anvil.url, "eth_blockNumber"));
    start(["writer", "--upstream", anvil.wsUrl, ...remote, "--from-block", String(from)], s3Env);
    const s3Port = await freePort();
    const s3ReaderUrl = `http://127.0.0.1:${s3Port}/`;
    start(
      [
        "reader",
        ...remote,
        "--data-dir",
        join(dir, "lag-s3-db"),
        "--rpc-port",
        String(s3Port),
        "--upstream",
        anvil.url,
        ...(WORKERS !== undefined ? ["--workers", WORKERS] : []),
      ],
      s3Env,
    );
    for (;;) {
      const h = await rpc<string>(s3ReaderUrl, "eth_blockNumber").catch(() => "-0x1");
      if (Number(h) >= from) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // At the fs figure's pace (a block every ~50 ms, more than the S3 path commits and applies
    // one after the other on this machine), then at a block every 250 ms.
    const s3Lag = await measureHeadLag(s3ReaderUrl, 50);
    const s3LagSlow = await measureHeadLag(s3ReaderUrl, 250);
    results.headLagMsNatsS3 = { fast: s3Lag, slow: s3LagSlow };
    const show = (l: typeof s3Lag) =>
      `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms (${l.blocks} blocks, one per ~${l.intervalMs} ms)`;
    console.log("");
    line("head lag upstream → reader (fs bus, directory)", show(fsLag));
    line("head lag upstream → reader (NATS + S3)", show(s3Lag));
    line("head lag upstream → reader (NATS + S3)", show(s3LagSlow));
  } finally {
    for (const c of children.splice(0)) c.kill("SIGTERM");
    await nats.dispose();
    await s3.dispose();
  }

  const outDir = fileURLToPath(new URL("./results/", import.meta.url));
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwritten to ${file}`);
} finally {
  for (const c of children) c.kill("SIGTERM");
  await anvil.stop();
  await rm(dir, { recursive: true, force: true });
}
