/**
 * `npm run bench`: the mirror's figures, each side by side with the upstream in one run.
 * Prints a table and writes bench/results/<timestamp>.json. Sizes: BENCH_BLOCKS (default 200)
 * blocks of BENCH_TXS (default 100) transactions; BENCH_SECONDS per load test (default 5);
 * BENCH_ROUNDS (default 1) load tests per method and side, alternating reader and anvil, of which
 * the median is reported (the machine is shared with the load generator and often with more).
 * BENCH_WORKERS (default: the reader's default) is passed to the reader as `--workers`.
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

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 200);
const TXS = Number(process.env.BENCH_TXS ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LAG_BLOCKS = Number(process.env.BENCH_LAG_BLOCKS ?? 100);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
const WORKERS = process.env.BENCH_WORKERS;
const BIN = fileURLToPath(new URL("../bin/chainkeep.js", import.meta.url));
const logger = silentLogger();
const results: Record<string, unknown> = { date: new Date().toISOString(), blocks: BLOCKS, txsPerBlock: TXS };

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const j = (await res.json()) as { result?: T; error?: { message: string } };
  if (j.error) throw new Error(`${method}: ${j.error.message}`);
  return j.result as T;
}

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
      { crossCheck, pollIntervalMs: 50, subscribe: false },
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
  const rep = new Replicator({ pollIntervalMs: 50 }, { chain, db, bus: new MemoryBus(), logger });
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
  await db.close();

  // ---- head lag: writer and reader as processes, file-system bus ----
  const rpcPort = await freePort();
  const readerUrl = `http://127.0.0.1:${rpcPort}/`;
  const start = (args: string[]) => {
    const c = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, CHAINKEEP_LOG_LEVEL: "warn" },
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
  const seenUp = new Map<string, number>();
  const seenReader = new Map<string, number>();
  const watch = (url: string, seen: Map<string, number>) =>
    new Promise<WebSocket>((resolve) => {
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
  const wsUp = await watch(anvil.wsUrl, seenUp);
  const wsReader = await watch(readerUrl.replace("http", "ws"), seenReader);
  for (let i = 0; i < LAG_BLOCKS; i++) {
    await gen.sendBatch(1);
    await new Promise((r) => setTimeout(r, 50));
  }
  await gen.settle();
  await new Promise((r) => setTimeout(r, 1500));
  const lags = [...seenUp]
    .filter(([h]) => seenReader.has(h))
    .map(([h, t]) => (seenReader.get(h) as number) - t);
  lags.sort((a, b) => a - b);
  wsUp.close();
  wsReader.close();
  results.headLagMs = {
    blocks: lags.length,
    p50: pct(lags, 50),
    p99: pct(lags, 99),
    max: lags[lags.length - 1],
  };
  line(
    "head lag upstream → reader (fs bus)",
    `p50 ${pct(lags, 50).toFixed(1)} ms, p99 ${pct(lags, 99).toFixed(1)} ms (${lags.length} blocks)`,
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
