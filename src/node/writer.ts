import { Counter, Gauge, Registry } from "prom-client";
import { startArchiving } from "../archive/index.ts";
import type { Bus } from "../bus/index.ts";
import { writerRole } from "../config/index.ts";
import { ChainStore, type ObjectStore } from "../store/index.ts";
import { HttpUpstream } from "../upstream/index.ts";
import { systemClock } from "../util/clock.ts";
import { CommonError, errorMessage } from "../util/errors.ts";
import { quantityToNumber } from "../util/hex.ts";
import type { Logger } from "../util/logger.ts";
import { withDefaults } from "../util/options.ts";
import { startStatusServer } from "../util/status-server.ts";
import { Writer, type WriterStatus } from "../writer/index.ts";
import { Closers, openStoreAndBus, type RoleConfig, withoutStoreAndBus } from "./shared.ts";

/** Configuration of a writer process: the writer role's settings (`writerRole`). */
export type WriterConfig = RoleConfig<typeof writerRole>;

/** A running writer and how to stop it. */
export interface RunningWriter {
  writer: Writer;
  statusPort?: number;
  close(): Promise<void>;
}

/**
 * The first upstream that answers `eth_chainId` (with `config.chainId` when set); tries the list
 * again with backoff until one does, so a writer can start before its node.
 */
async function connectUpstream(
  config: { upstream?: string[]; chainId?: number },
  logger: Logger,
): Promise<{ upstream: HttpUpstream; chainId: number }> {
  const urls = (config.upstream ?? []).filter((u) => u !== "");
  if (urls.length === 0) throw new CommonError("CONFIG_MISSING", "the writer needs an upstream URL");
  for (let attempt = 0; ; attempt++) {
    for (const url of urls) {
      const upstream = new HttpUpstream({ url }, { logger: logger.child({ module: "upstream" }) });
      try {
        if (config.chainId !== undefined && urls.length === 1) return { upstream, chainId: config.chainId };
        const chainId = quantityToNumber(await upstream.request<string>("eth_chainId"));
        if (config.chainId === undefined || chainId === config.chainId) {
          if (urls.length > 1) logger.info({ url, chainId }, "following this upstream");
          return { upstream, chainId };
        }
        logger.warn({ url, chainId, want: config.chainId }, "upstream serves another chain; skipping it");
      } catch (err) {
        logger.warn({ url, err: errorMessage(err) }, "upstream does not answer");
      }
      upstream.close();
    }
    await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
  }
}

/**
 * Composition root of the writer role: upstream, store and bus, the writer, its status server,
 * and with `pack` the archiving loop; built in this order and closed in reverse.
 */
export async function startWriter(
  config: WriterConfig,
  deps: { logger: Logger; store?: ObjectStore; bus?: Bus },
): Promise<RunningWriter> {
  const logger = deps.logger.child({ module: "writer" });
  const s = withDefaults(withoutStoreAndBus(writerRole), config);
  const parts = new Closers();
  return parts.guard(async () => {
    const { upstream, chainId } = await connectUpstream(s, logger);
    parts.add(() => upstream.close());
    const io = openStoreAndBus(config, { ...deps, logger, log: { chainId } });
    parts.add(() => io.close());
    const chain = new ChainStore(io.store, s.prefix, chainId);
    const writer = new Writer(s, { upstream, chain, bus: io.bus, clock: systemClock, logger });
    const registry = new Registry();
    registerWriterMetrics(registry, () => writer.status());
    await writer.start();
    parts.add(() => writer.stop());
    const status =
      s.statusPort !== undefined
        ? await startStatusServer(
            { host: s.statusHost, port: s.statusPort },
            {
              status: () => writer.status(),
              healthy: () => writer.status().lastError === undefined,
              registry,
              actions: { "/resume": () => ({ resumed: writer.resume() }) },
            },
          )
        : undefined;
    if (status) parts.add(() => status.close());
    if (s.pack) {
      // Segments and snapshots of the writer's own line, on its own store client.
      const archiving = startArchiving(s, {
        chain,
        logger: deps.logger.child({ module: "pack" }),
      });
      parts.add(() => archiving.close());
    }
    return { writer, statusPort: status?.port, close: () => parts.close() };
  });
}

function registerWriterMetrics(registry: Registry, status: () => WriterStatus): void {
  new Gauge({
    name: "chainkeep_writer_height",
    help: "Highest committed block height",
    registers: [registry],
    collect() {
      this.set(status().height);
    },
  });
  new Gauge({
    name: "chainkeep_writer_lag_blocks",
    help: "Upstream head minus committed height",
    registers: [registry],
    collect() {
      this.set(status().lag);
    },
  });
  new Gauge({
    name: "chainkeep_writer_halted",
    help: "1 while the writer refuses a reorg deeper than reorgMax",
    registers: [registry],
    collect() {
      this.set(status().halted ? 1 : 0);
    },
  });
  new Counter({
    name: "chainkeep_writer_reorgs_total",
    help: "Reorgs followed since start",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().reorgs);
    },
  });
  new Counter({
    name: "chainkeep_writer_blocks_committed_total",
    help: "Blocks committed since start",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().blocksCommitted);
    },
  });
}
