/**
 * The demo with several chains, as in a sharded network (Harmony's beacon chain and shards): one
 * anvil per chain with its own chain id, a writer per chain (packing segments), one reader process
 * serving every chain on its own port and one archiver process keeping every chain, all configured
 * by one cluster file written to the demo directory.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { freePort } from "../util/net.ts";
import { type AnvilNode, spawnAnvil } from "./anvil.ts";
import { DEMO_CHAIN_ID_BASE, demoChainName, multiChainCluster } from "./cluster-file.ts";
import type { DemoOptions } from "./options.ts";
import { TrafficGenerator } from "./traffic/generator.ts";
import { componentStarter, fetchJson, statusPrinter } from "./util.ts";

/** Runs the multi-chain demo until closed; prints each chain's RPC URL and a status line per component. */
export async function runMultiChainDemo(
  opts: DemoOptions,
  deps: { logger: Logger; out: NodeJS.WriteStream },
): Promise<{ close(): Promise<void>; readerUrls: string[] }> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "chainkeep-demo-"));
  const abort = new AbortController();
  const children: ChildProcess[] = [];
  const anvils: AnvilNode[] = [];
  const names = Array.from({ length: opts.chains }, (_, i) => demoChainName(i));
  for (const [i] of names.entries()) {
    anvils.push(await spawnAnvil({ blockTime: opts.blockTime, chainId: DEMO_CHAIN_ID_BASE + i }));
  }
  const statusPorts: number[] = [];
  for (const _ of names) statusPorts.push(await freePort());

  const configFile = join(dir, "cluster.yaml");
  const config = multiChainCluster({
    store: { type: "fs", dir: "store" },
    bus: { type: "fs" },
    chains: names.map((name, i) => ({
      name,
      chainId: DEMO_CHAIN_ID_BASE + i,
      upstream: (anvils[i] as AnvilNode).wsUrl,
      statusPort: statusPorts[i] as number,
      rpcPort: opts.rpcPort + i,
      archiverPort: opts.rpcPort + names.length + i,
      forward: anvils[i]?.url,
    })),
    // One process serves every chain; the machine also runs the anvils and the writers.
    reader: { pollInterval: 500, workers: 1 },
    writer: { pack: true, segmentBlocks: 64, packInterval: 5000 },
    archiver: { pollInterval: 500, snapshotEvery: "200b" },
  });
  writeFileSync(
    configFile,
    `# Written by chainkeep demo --chains ${opts.chains}; check it with: chainkeep config check ${configFile}\n${stringify(config)}`,
  );

  const startComponent = componentStarter({ logger: deps.logger, abort: abort.signal, children });
  const start = (name: string, args: string[]) => startComponent(name, [...args, "--config", configFile]);
  const writers = names.map((name) => start(`writer-${name}`, ["writer", "--node", `writer-${name}`]));
  const reader = start("reader-1", ["reader", "--node", "reader-1"]);
  const archiver = start("archiver-1", ["archiver", "--node", "archiver-1"]);
  const archiverUrls = names.map((_, i) => `http://127.0.0.1:${opts.rpcPort + names.length + i}/`);

  const traffic = names.map(async (name, i) => {
    const anvil = anvils[i] as AnvilNode;
    const gen = new TrafficGenerator(
      { rpcUrl: anvil.url, chainId: anvil.chainId },
      { logger: deps.logger.child({ chain: name }) },
    );
    try {
      await gen.deploy();
      await gen.run({ intervalMs: opts.txInterval, signal: abort.signal });
    } catch (err) {
      if (!abort.signal.aborted)
        deps.logger.error({ chain: name, err: errorMessage(err) }, "traffic generator stopped");
    }
  });

  const readerUrls = names.map((_, i) => `http://127.0.0.1:${opts.rpcPort + i}/`);
  const out = deps.out;
  out.write(`chainkeep demo — ${opts.chains} chains, data and cluster.yaml in ${dir}\n`);
  names.forEach((name, i) => {
    out.write(
      `  ${name.padEnd(8)} chain id ${DEMO_CHAIN_ID_BASE + i}  upstream ${anvils[i]?.url}  reader JSON-RPC ${readerUrls[i]}  archiver ${archiverUrls[i]}\n`,
    );
  });
  out.write(
    'Try: curl -s -H \'content-type: application/json\' -d \'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}\' ',
  );
  out.write(`${readerUrls[1]}\nCtrl-C stops everything.\n\n`);

  const statusLoop = (async () => {
    const print = statusPrinter(out);
    while (!abort.signal.aborted) {
      const lines: string[] = [];
      for (const [i, name] of names.entries()) {
        const up = await fetchJson(anvils[i]?.url as string, {
          jsonrpc: "2.0",
          id: 1,
          method: "eth_blockNumber",
        })
          .then((r) => Number.parseInt((r as { result: string }).result, 16))
          .catch(() => -1);
        const w = (await fetchJson(`http://127.0.0.1:${statusPorts[i]}/status`).catch(() => undefined)) as
          | { height?: number }
          | undefined;
        const r = (await fetchJson(`${readerUrls[i]}health`).catch(() => undefined)) as
          | { height?: number }
          | undefined;
        const a = (await fetchJson(`${archiverUrls[i]}status`).catch(() => undefined)) as
          | { chains?: { chainId: number; durableHeight: number }[] }
          | undefined;
        const durable = a?.chains?.find((c) => c.chainId === DEMO_CHAIN_ID_BASE + i)?.durableHeight;
        const show = (h: number | undefined) =>
          h === undefined ? "starting…" : `height ${h}  lag ${up >= 0 ? up - h : "?"}`;
        lines.push(
          `${name.padEnd(8)} upstream ${up}  | writer ${show(w?.height)}  | reader ${show(r?.height)}  | archiver durable ${durable ?? "…"}`,
        );
      }
      print(lines);
      await sleep(1000, abort.signal);
    }
  })();

  const stopChild = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once("exit", () => resolve());
      c.kill("SIGTERM");
      setTimeout(() => c.kill("SIGKILL"), 5000).unref();
    });
  return {
    readerUrls,
    async close() {
      abort.abort();
      await Promise.all(traffic);
      await statusLoop;
      await stopChild(reader);
      await stopChild(archiver);
      await Promise.all(writers.map(stopChild));
      await Promise.all(anvils.map((a) => a.stop()));
    },
  };
}
