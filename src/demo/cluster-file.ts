/**
 * The cluster file of a sharded network on one machine, as the multi-chain demo writes it (and
 * the tests that run such a cluster): chains with their upstreams, one writer per chain, one
 * reader process serving every chain on its own port, and optionally one archiver process keeping
 * every chain.
 */
import { DEFAULT_REORG_MAX } from "../format/index.ts";

/** Chain ids of the demo's chains: Harmony's mainnet shard ids (shard 0 is the beacon chain). */
export const DEMO_CHAIN_ID_BASE = 1_666_600_000;

/** Names of the demo's chains: `beacon`, then `shard-1`, `shard-2` … */
export function demoChainName(i: number): string {
  return i === 0 ? "beacon" : `shard-${i}`;
}

/** One chain of the cluster. */
export interface ClusterChain {
  name: string;
  chainId: number;
  /** The writer's upstream (a ws:// URL: the writer subscribes to new heads). */
  upstream: string;
  /** The writer's status port. */
  statusPort: number;
  /** The reader's JSON-RPC port for this chain. */
  rpcPort: number;
  /** Where the reader forwards what the mirror cannot answer (default: the chain's upstream). */
  forward?: string;
  /** The archiver's JSON-RPC port for this chain (with an archiver). */
  archiverPort?: number;
}

/** What {@link multiChainCluster} builds. */
export interface MultiChainClusterOptions {
  chains: ClusterChain[];
  /** The file's `store` and `bus` sections. */
  store: Record<string, unknown>;
  bus: Record<string, unknown>;
  /** More options of every writer's node entry. */
  writer?: Record<string, unknown>;
  /** More options of the reader's node entry (`reader-1`). */
  reader?: Record<string, unknown>;
  /** An archiver node entry (`archiver-1`, keeping every chain on its `archiverPort`), with these options. */
  archiver?: Record<string, unknown>;
}

/**
 * The cluster file (as data, for YAML): node `writer-<name>` per chain, and `reader-1` serving
 * every chain, its databases under `reader-1/<name>` beside the file.
 */
export function multiChainCluster(opts: MultiChainClusterOptions): Record<string, unknown> {
  return {
    store: opts.store,
    bus: opts.bus,
    chains: opts.chains.map((c) => ({
      chainId: c.chainId,
      name: c.name,
      upstream: [c.upstream],
      reorgMax: DEFAULT_REORG_MAX,
    })),
    nodes: [
      ...opts.chains.map((c) => ({
        name: `writer-${c.name}`,
        role: "writer",
        chain: c.name,
        statusPort: c.statusPort,
        ...opts.writer,
      })),
      {
        name: "reader-1",
        role: "reader",
        ...opts.reader,
        chains: opts.chains.map((c) => ({
          chain: c.name,
          rpcPort: c.rpcPort,
          dataDir: `reader-1/${c.name}`,
          ...(c.forward !== undefined ? { upstream: c.forward } : {}),
        })),
      },
      ...(opts.archiver
        ? [
            {
              name: "archiver-1",
              role: "archiver",
              ...opts.archiver,
              chains: opts.chains.map((c) => ({
                chain: c.name,
                rpcPort: c.archiverPort ?? 0,
                dataDir: `archiver-1/${c.name}`,
                ...(c.forward !== undefined ? { upstream: c.forward } : {}),
              })),
            },
          ]
        : []),
    ],
  };
}
