/**
 * A multi-chain chainkeep cluster on loopback, configured by a YAML file like an operator's: an
 * s3rver (S3 API) and a nats-server (JetStream), one anvil per chain with its own chain id, one
 * writer process per chain and ONE reader process serving every chain on its own port.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { DEMO_CHAIN_ID_BASE, demoChainName, multiChainCluster } from "../../src/demo/index.ts";
import { type AnvilInstance, startAnvil } from "./anvil.ts";
import { type ChainkeepProcess, spawnChainkeep } from "./cluster.ts";
import type { DiffTarget } from "./differential.ts";
import { type NatsServerInstance, startNatsServer } from "./nats.ts";
import { freePort, type JsonRpcResponse, rpc } from "./net.ts";
import { S3RVER_CREDENTIALS, type S3rverInstance, startS3rver } from "./s3rver.ts";

/** Chain ids of the test chains (Harmony's shard ids: the beacon chain, then shards). */
export const CHAIN_ID_BASE = DEMO_CHAIN_ID_BASE;

/** Options of {@link startMultiChainCluster}. */
export interface MultiChainOptions {
  /** Number of chains (default 3). */
  chains?: number;
  /** anvil block time in seconds (default automine). */
  blockTime?: number;
  /** Writer cross-check mode (default "always"). */
  crossCheck?: "always" | "sample" | "off";
  /** Writer poll interval, in ms (default 100). */
  writerPollMs?: number;
  /** Reader store poll interval, in ms (default 1000: NATS notices wake it earlier). */
  readerPollMs?: number;
  /** Log level of the chainkeep processes (default warn). */
  logLevel?: string;
}

/** A running multi-chain cluster. */
export interface MultiChainCluster {
  dir: string;
  configFile: string;
  s3: S3rverInstance;
  nats: NatsServerInstance;
  anvils: AnvilInstance[];
  chainIds: number[];
  names: string[];
  writers: ChainkeepProcess[];
  /** The writers' status ports (`/status`), by chain. */
  writerStatusPorts: number[];
  reader: ChainkeepProcess;
  /** The reader's JSON-RPC URL of each chain. */
  readerUrls: string[];
  /** Where every line each process printed is kept: `<dir>/<name>.log`. */
  logFile(name: string): string;
  /** Waits until the reader's `eth_blockNumber` for chain `i` equals its anvil's; returns it. */
  waitSynced(i: number, timeoutMs?: number): Promise<number>;
  /** The differential suite's view of chain `i` (its `stop` does nothing: the cluster owns it). */
  target(i: number): DiffTarget;
  alive(): boolean;
  diagnostics(): string;
  stop(): Promise<void>;
}

/** Starts everything and resolves once the reader answers JSON-RPC for every chain. */
export async function startMultiChainCluster(opts: MultiChainOptions = {}): Promise<MultiChainCluster> {
  const n = opts.chains ?? 3;
  const dir = await mkdtemp(join(tmpdir(), "ck-multi-"));
  const names = Array.from({ length: n }, (_, i) => demoChainName(i));
  const chainIds = names.map((_, i) => CHAIN_ID_BASE + i);
  const [s3, nats, ...anvils] = await Promise.all([
    startS3rver(),
    startNatsServer(),
    ...chainIds.map((chainId) => startAnvil({ chainId, blockTime: opts.blockTime })),
  ]);
  const writerStatusPorts: number[] = [];
  const rpcPorts: number[] = [];
  for (const _ of names) {
    writerStatusPorts.push(await freePort());
    rpcPorts.push(await freePort());
  }
  const configFile = join(dir, "cluster.yaml");
  const config = multiChainCluster({
    store: {
      type: "s3",
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      keyPrefix: "test",
      forcePathStyle: true,
      credentials: { ...S3RVER_CREDENTIALS },
    },
    bus: { type: "nats", servers: [nats.url], stream: "chainkeep-test" },
    chains: names.map((name, i) => ({
      name,
      chainId: chainIds[i] as number,
      upstream: (anvils[i] as AnvilInstance).wsUrl,
      statusPort: writerStatusPorts[i] as number,
      rpcPort: rpcPorts[i] as number,
    })),
    writer: { pollInterval: opts.writerPollMs ?? 100, crossCheck: opts.crossCheck ?? "always" },
    // The tests compare state at every height with the upstream.
    reader: { history: "archive", pollInterval: opts.readerPollMs ?? 1000, workers: 1 },
  });
  await writeFile(configFile, stringify(config));
  const logFile = (name: string) => join(dir, `${name}.log`);
  const env = { CHAINKEEP_LOG_LEVEL: opts.logLevel ?? "warn" };
  const writers = names.map((name) =>
    spawnChainkeep(`writer-${name}`, ["writer", "--config", configFile, "--node", `writer-${name}`], env, {
      logFile: logFile(`writer-${name}`),
    }),
  );
  const reader = spawnChainkeep("reader-1", ["reader", "--config", configFile, "--node", "reader-1"], env, {
    logFile: logFile("reader-1"),
  });
  const procs = [...writers, reader];
  const readerUrls = rpcPorts.map((p) => `http://127.0.0.1:${p}/`);
  const diagnostics = () =>
    [
      `s3 ${s3.endpoint} (${s3.running ? "up" : "down"}), nats ${nats.url} (${nats.running ? "up" : "down"})`,
      ...anvils.map((a, i) => `${names[i]}: anvil ${a.url}, reader ${readerUrls[i]}`),
      ...procs.map((p) => `--- ${p.name} (pid ${p.pid}) ---\n${p.output().trim().slice(-6000)}`),
    ].join("\n");
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.stop();
    await Promise.all(anvils.map((a) => a.stop()));
    await nats.dispose();
    await s3.dispose();
    await rm(dir, { recursive: true, force: true });
  };
  const waitSynced = async (i: number, timeoutMs = 60_000) => {
    const anvil = anvils[i] as AnvilInstance;
    const url = readerUrls[i] as string;
    const until = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const [up, down] = await Promise.all([
        anvil.rpc("eth_blockNumber"),
        rpc(url, "eth_blockNumber").catch((err: Error) => ({ error: { message: err.message } })),
      ]);
      const want = typeof up.result === "string" ? Number(up.result) : Number.NaN;
      const got = (down as JsonRpcResponse).result;
      if (typeof got === "string" && Number(got) === want) return want;
      last = `anvil ${up.result}, reader ${got ?? JSON.stringify((down as JsonRpcResponse).error)}`;
      for (const p of procs)
        if (p.exited())
          throw new Error(`${p.name} exited while syncing ${names[i]} (${last})\n${diagnostics()}`);
      if (Date.now() > until)
        throw new Error(
          `${names[i]}: the reader did not catch up in ${timeoutMs} ms (${last})\n${diagnostics()}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const alive = () => procs.every((p) => !p.exited());

  try {
    // Serving starts per chain once the process is up; the chain's data once its writer wrote meta.
    const deadline = Date.now() + 90_000;
    for (const url of readerUrls) {
      for (;;) {
        const res = await rpc(url, "eth_chainId").catch(() => undefined);
        if (res?.result !== undefined) break;
        if (!alive()) throw new Error(`a process exited during startup\n${diagnostics()}`);
        if (Date.now() > deadline) throw new Error(`the reader did not serve on ${url}\n${diagnostics()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    configFile,
    s3,
    nats,
    anvils,
    chainIds,
    names,
    writers,
    writerStatusPorts,
    reader,
    readerUrls,
    logFile,
    waitSynced,
    target(i) {
      const anvil = anvils[i] as AnvilInstance;
      const readerUrl = readerUrls[i] as string;
      return {
        anvil,
        readerUrl,
        readerWsUrl: readerUrl.replace("http", "ws"),
        readerRpc: (method, params = []) => rpc(readerUrl, method, params),
        waitSynced: (timeoutMs) => waitSynced(i, timeoutMs),
        alive,
        diagnostics,
        stop: async () => {},
      };
    },
    alive,
    diagnostics,
    stop,
  };
}
