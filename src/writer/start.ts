import { Counter, Gauge, Registry } from "prom-client";
import { type Bus, FsBus, MemoryBus } from "../bus/index.ts";
import { ChainStore, FsStore, type ObjectStore } from "../store/index.ts";
import { HttpUpstream } from "../upstream/index.ts";
import { systemClock } from "../util/clock.ts";
import { quantityToNumber } from "../util/hex.ts";
import type { Logger } from "../util/logger.ts";
import { startStatusServer } from "../util/status-server.ts";
import type { CrossCheck, DiffSource } from "./fetch.ts";
import { Writer, type WriterStatus } from "./writer.ts";

/** Configuration of a writer process. */
export interface WriterConfig {
  upstream: string;
  /** Object-store directory. */
  store: string;
  prefix: string;
  /** Chain id; read from the upstream when absent. */
  chainId?: number;
  fromBlock?: number;
  /** in ms */
  pollIntervalMs?: number;
  reorgMax?: number;
  crossCheck?: CrossCheck;
  diffSource?: DiffSource;
  initialState?: "auto" | "none";
  /** Directory of the file-system bus; in-process bus when absent. */
  busDir?: string;
  /** Status/metrics HTTP port (0 = any free port, undefined = none). */
  statusPort?: number;
  statusHost?: string;
}

/** A running writer and how to stop it. */
export interface RunningWriter {
  writer: Writer;
  statusPort?: number;
  close(): Promise<void>;
}

/** Composition root of the writer role: builds store, bus, upstream and writer, in order. */
export async function startWriter(
  config: WriterConfig,
  deps: { logger: Logger; store?: ObjectStore; bus?: Bus },
): Promise<RunningWriter> {
  const logger = deps.logger.child({ module: "writer" });
  const upstream = new HttpUpstream(
    { url: config.upstream },
    { logger: logger.child({ module: "upstream" }) },
  );
  const chainId = config.chainId ?? quantityToNumber(await upstream.request<string>("eth_chainId"));
  const store = deps.store ?? new FsStore({ dir: config.store });
  const bus = deps.bus ?? (config.busDir ? new FsBus({ dir: config.busDir }, { logger }) : new MemoryBus());
  const chain = new ChainStore(store, config.prefix, chainId);
  const writer = new Writer(
    {
      fromBlock: config.fromBlock,
      pollIntervalMs: config.pollIntervalMs,
      reorgMax: config.reorgMax,
      crossCheck: config.crossCheck,
      diffSource: config.diffSource,
      initialState: config.initialState,
    },
    { upstream, chain, bus, clock: systemClock, logger },
  );
  const registry = new Registry();
  registerWriterMetrics(registry, () => writer.status());
  await writer.start();
  const status =
    config.statusPort !== undefined
      ? await startStatusServer(
          { host: config.statusHost ?? "127.0.0.1", port: config.statusPort },
          {
            status: () => writer.status(),
            healthy: () => writer.status().lastError === undefined,
            registry,
            actions: { "/resume": () => ({ resumed: writer.resume() }) },
          },
        )
      : undefined;
  return {
    writer,
    statusPort: status?.port,
    async close() {
      await status?.close();
      await writer.stop();
      upstream.close();
      if (!deps.bus) await bus.close();
      if (!deps.store) await store.close();
    },
  };
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
