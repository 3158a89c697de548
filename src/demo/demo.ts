import type { ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { freePort } from "../util/net.ts";
import { type PartialOptions, withDefaults } from "../util/options.ts";
import { type AnvilNode, spawnAnvil } from "./anvil.ts";
import { runMultiChainDemo } from "./multi.ts";
import { demoOptions } from "./options.ts";
import { TrafficGenerator } from "./traffic/generator.ts";
import { componentStarter, fetchJson, statusPrinter } from "./util.ts";

interface Component {
  name: string;
  url: string;
  statusUrl: string;
  child?: ChildProcess;
}

/**
 * Runs a whole cluster on this machine: anvil (the upstream), a traffic generator, one writer
 * (packing segments), two readers and an archiver as separate processes on a directory store with
 * the file-system bus. Prints the RPC URLs and a live status line per component until closed.
 */
export async function runDemo(
  given: PartialOptions<typeof demoOptions>,
  deps: { logger: Logger; out: NodeJS.WriteStream },
): Promise<{ close(): Promise<void>; readerUrls: string[] }> {
  const opts = withDefaults(demoOptions, given);
  if (opts.chains > 1) return runMultiChainDemo(opts, deps);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "chainkeep-demo-"));
  const store = join(dir, "store");
  const anvil: AnvilNode = await spawnAnvil({ blockTime: opts.blockTime });
  const children: ChildProcess[] = [];
  const abort = new AbortController();
  const start = componentStarter({ logger: deps.logger, abort: abort.signal, children });

  const writerStatus = await freePort();
  const components: Component[] = [
    {
      name: "writer",
      url: anvil.wsUrl,
      statusUrl: `http://127.0.0.1:${writerStatus}/status`,
      child: start("writer", [
        "writer",
        "--upstream",
        anvil.wsUrl,
        "--store",
        store,
        "--status-port",
        String(writerStatus),
        // Segments of 64 blocks, packed once they are final (the store then holds both forms).
        "--pack",
        "--segment-blocks",
        "64",
        "--pack-interval",
        "5000",
      ]),
    },
  ];
  for (const i of [0, 1]) {
    const port = opts.rpcPort + i;
    const url = `http://127.0.0.1:${port}/`;
    components.push({
      name: `reader-${i + 1}`,
      url,
      statusUrl: `${url}health`,
      child: start(`reader-${i + 1}`, [
        "reader",
        "--store",
        store,
        "--data-dir",
        join(dir, `reader-${i + 1}`),
        "--rpc-port",
        String(port),
        "--upstream",
        anvil.url,
        "--poll-interval",
        "500",
        // Two readers already share this machine's cores with anvil and the writer.
        "--workers",
        "1",
      ]),
    });
  }

  // An archiver: state at every height, a local copy of the store, a proven snapshot every 200
  // blocks, and the recovery API.
  const archiverPort = opts.rpcPort + 2;
  const archiverUrl = `http://127.0.0.1:${archiverPort}/`;
  components.push({
    name: "archiver",
    url: archiverUrl,
    statusUrl: `${archiverUrl}status`,
    child: start("archiver", [
      "archiver",
      "--store",
      store,
      "--data-dir",
      join(dir, "archiver"),
      "--rpc-port",
      String(archiverPort),
      "--upstream",
      anvil.url,
      "--poll-interval",
      "500",
      "--snapshot-every",
      "200b",
    ]),
  });

  const traffic = new TrafficGenerator({ rpcUrl: anvil.url, chainId: 31337 }, { logger: deps.logger });
  await traffic.deploy();
  const trafficLoop = traffic.run({ intervalMs: opts.txInterval, signal: abort.signal }).catch((err) => {
    if (!abort.signal.aborted) deps.logger.error({ err: errorMessage(err) }, "traffic generator stopped");
  });

  const out = deps.out;
  out.write(`chainkeep demo — data in ${dir}\n`);
  out.write(`  upstream (anvil): ${anvil.url}\n`);
  for (const c of components.slice(1))
    out.write(`  ${c.name.padEnd(8)} JSON-RPC: ${c.url}  (HTTP and WebSocket)\n`);
  out.write(`  archiver status and recovery API: ${archiverUrl}status  ${archiverUrl}recovery/v1/chains\n`);
  out.write(
    'Try: curl -s -H \'content-type: application/json\' -d \'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}\' ',
  );
  out.write(`${components[1]?.url}\nCtrl-C stops everything.\n\n`);

  const statusLoop = (async () => {
    const print = statusPrinter(out);
    while (!abort.signal.aborted) {
      const upstreamHeight = await fetchJson(anvil.url, { jsonrpc: "2.0", id: 1, method: "eth_blockNumber" })
        .then((r) => Number.parseInt((r as { result: string }).result, 16))
        .catch(() => -1);
      const lines = [`upstream   height ${upstreamHeight}`];
      for (const c of components) {
        const got = (await fetchJson(c.statusUrl).catch(() => undefined)) as
          | {
              height?: number;
              chains?: { height: number; durableHeight: number; segments: number; snapshotsLocal: number }[];
            }
          | undefined;
        const chain = got?.chains?.[0];
        const h = chain?.height ?? got?.height ?? -1;
        const extra = chain
          ? `  durable ${chain.durableHeight}  segments ${chain.segments}  snapshots ${chain.snapshotsLocal}`
          : "";
        lines.push(
          `${c.name.padEnd(10)} ${got ? `height ${h}  lag ${upstreamHeight >= 0 && h >= 0 ? upstreamHeight - h : "?"}${extra}` : "starting…"}`,
        );
      }
      print(lines);
      await sleep(1000, abort.signal);
    }
  })();

  return {
    readerUrls: components.slice(1, 3).map((c) => c.url),
    async close() {
      abort.abort();
      await trafficLoop;
      await statusLoop;
      // Readers and the archiver first, then the writer.
      for (const group of [children.slice(1), children.slice(0, 1)]) {
        await Promise.all(
          group.map(
            (c) =>
              new Promise<void>((resolve) => {
                if (c.exitCode !== null || c.signalCode !== null) return resolve();
                c.once("exit", () => resolve());
                c.kill("SIGTERM");
                setTimeout(() => c.kill("SIGKILL"), 5000).unref();
              }),
          ),
        );
      }
      await anvil.stop();
    },
  };
}
