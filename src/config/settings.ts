/**
 * Where each setting of a role comes from: flag, then `CHAINKEEP_*` environment variable, then the
 * configuration file, then the default. Settings are named like the CLI flags in camelCase
 * (`--rpc-port` ↔ `rpcPort` ↔ `CHAINKEEP_RPC_PORT`); the file's sections are flattened to those
 * names for the node a process runs as, so one resolver treats every setting alike.
 */
import type { BusSpec } from "../bus/index.ts";
import { parseStoreUrl, type StoreSpec } from "../store/index.ts";
import { CommonError } from "../util/errors.ts";
import {
  type ChainConfig,
  type ClusterConfig,
  type ReaderNodeConfig,
  resolveChainRef,
  type WriterNodeConfig,
} from "./schema.ts";

/** Where a resolved setting came from. */
export type SettingSource = "cli" | "env" | "file" | "default";

/** The flag and environment layer (commander's parsed options and their value sources). */
export interface FlagLayer {
  /** The parsed value of `key`. */
  value(key: string): unknown;
  /** `cli`, `env`, `default` or undefined (commander's `getOptionValueSource`). */
  source(key: string): string | undefined;
}

/** Settings after precedence, and where each came from. */
export interface Resolved {
  values: Record<string, unknown>;
  sources: Record<string, SettingSource>;
}

/** The environment variable of a setting: `rpcPort` → `CHAINKEEP_RPC_PORT`. */
export function envName(key: string): string {
  return `CHAINKEEP_${key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`;
}

/** Applies flag > env > file > default to each of `keys`. */
export function resolveSettings(
  keys: readonly string[],
  flags: FlagLayer,
  file: Record<string, unknown>,
  defaults: Record<string, unknown>,
): Resolved {
  const values: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const key of keys) {
    const src = flags.source(key);
    if ((src === "cli" || src === "env") && flags.value(key) !== undefined) {
      values[key] = flags.value(key);
      sources[key] = src;
    } else if (file[key] !== undefined) {
      values[key] = file[key];
      sources[key] = "file";
    } else if (defaults[key] !== undefined) {
      values[key] = defaults[key];
      sources[key] = "default";
    }
  }
  return { values, sources };
}

/** Settings only the file can hold (secrets and lists have no flag). */
export interface FileExtras {
  s3Credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  natsAuth?: { user?: string; pass?: string; token?: string };
}

/** The file's store and bus sections as flag settings. */
function storeAndBus(cfg: ClusterConfig): { values: Record<string, unknown>; extras: FileExtras } {
  const values: Record<string, unknown> = {};
  const extras: FileExtras = {};
  const s = cfg.store;
  if (s?.type === "fs") values.store = s.dir;
  else if (s?.type === "s3") {
    values.store = `s3://${s.bucket}${s.keyPrefix ? `/${s.keyPrefix}` : ""}`;
    values.s3Endpoint = s.endpoint;
    values.s3Region = s.region;
    values.s3ForcePathStyle = s.forcePathStyle;
    extras.s3Credentials = s.credentials;
  }
  const b = cfg.bus;
  if (b) values.bus = b.type;
  if (b?.type === "fs") values.busDir = b.dir;
  if (b?.type === "nats") {
    values.natsUrl = b.servers.join(",");
    values.natsStream = b.stream;
    if (b.user !== undefined || b.token !== undefined)
      extras.natsAuth = { user: b.user, pass: b.pass, token: b.token };
  }
  return { values, extras };
}

/** The store and bus the file describes, as specs (without a store: neither). */
export function clusterStoreAndBus(cfg: ClusterConfig): { store?: StoreSpec; bus?: BusSpec } {
  const { values, extras } = storeAndBus(cfg);
  if (values.store === undefined) return {};
  const store = storeSpecFrom(values, extras);
  return { store, bus: busSpecFrom(values, store, extras) };
}

function nodeByName(cfg: ClusterConfig, node: string): WriterNodeConfig | ReaderNodeConfig {
  const n = cfg.nodes.find((x) => x.name === node);
  if (!n) {
    throw new CommonError("CONFIG_INVALID", `no node named ${node} in the configuration`, {
      node,
      nodes: cfg.nodes.map((x) => x.name),
    });
  }
  return n;
}

/** The reader's forwarding URL: the first http(s) upstream, else the first one as http(s). */
export function forwardingUrl(upstreams: readonly string[]): string | undefined {
  return upstreams.find((u) => /^https?:/.test(u)) ?? upstreams[0]?.replace(/^ws/, "http");
}

/** What the file says for a writer process. */
export interface WriterFileSettings {
  values: Record<string, unknown>;
  extras: FileExtras;
  /** The node entry used, if any. */
  node?: string;
}

/**
 * The file's settings for a writer: the node named `node` (a writer entry), else the chain with
 * id `chainId`, else the only chain. Its chain gives upstream, chainId, reorgMax, prefix,
 * fromBlock; its node entry the rest.
 */
export function writerFileSettings(
  cfg: ClusterConfig,
  select: { node?: string; chainId?: number },
): WriterFileSettings {
  const { values, extras } = storeAndBus(cfg);
  if (cfg.logLevel) values.logLevel = cfg.logLevel;
  let chain: ChainConfig | undefined;
  let node: WriterNodeConfig | undefined;
  if (select.node !== undefined) {
    const n = nodeByName(cfg, select.node);
    if (n.role !== "writer")
      throw new CommonError("CONFIG_INVALID", `node ${select.node} is a ${n.role}, not a writer`);
    node = n;
    chain = resolveChainRef(cfg.chains, n.chain);
  } else if (select.chainId !== undefined) {
    chain = cfg.chains.find((c) => c.chainId === select.chainId);
  } else if (cfg.chains.length === 1) {
    chain = cfg.chains[0];
  } else if (cfg.chains.length > 1) {
    throw new CommonError(
      "CONFIG_INVALID",
      `the configuration has ${cfg.chains.length} chains: say which with --node or --chain-id`,
    );
  }
  if (chain) {
    node ??= cfg.nodes.find(
      (n): n is WriterNodeConfig =>
        n.role === "writer" && resolveChainRef(cfg.chains, n.chain)?.chainId === chain?.chainId,
    );
    Object.assign(values, {
      upstream: chain.upstream.join(","),
      chainId: chain.chainId,
      reorgMax: chain.reorgMax,
      prefix: chain.prefix,
      fromBlock: chain.fromBlock,
    });
  }
  if (node) {
    Object.assign(values, {
      statusPort: node.statusPort,
      statusHost: node.statusHost,
      pollInterval: node.pollInterval,
      crossCheck: node.crossCheck,
      diffSource: node.diffSource,
      initialState: node.initialState,
      pack: node.pack,
      segmentBlocks: node.segmentBlocks,
      retainBlocks: node.retainBlocks,
      snapshotEvery: node.snapshotEvery,
      snapshotKeep: node.snapshotKeep,
      packInterval: node.packInterval,
    });
  }
  return { values, extras, node: node?.name };
}

/** One chain a reader process serves, as the file says. */
export interface ReaderChainSettings {
  chainId: number;
  name: string;
  /** Undefined: the line the reader's database follows (`primary` for a new one). */
  prefix?: string;
  rpcPort: number;
  dataDir: string;
  upstream?: string;
}

/** What the file says for a reader process. */
export interface ReaderFileSettings {
  values: Record<string, unknown>;
  extras: FileExtras;
  /** The chains of the node entry (empty without one). */
  chains: ReaderChainSettings[];
  node?: string;
}

/** The file's settings for a reader: the node named `node`, else the only reader node, if any. */
export function readerFileSettings(cfg: ClusterConfig, select: { node?: string }): ReaderFileSettings {
  const { values, extras } = storeAndBus(cfg);
  if (cfg.logLevel) values.logLevel = cfg.logLevel;
  let node: ReaderNodeConfig | undefined;
  if (select.node !== undefined) {
    const n = nodeByName(cfg, select.node);
    if (n.role !== "reader")
      throw new CommonError("CONFIG_INVALID", `node ${select.node} is a ${n.role}, not a reader`);
    node = n;
  } else {
    const readers = cfg.nodes.filter((n): n is ReaderNodeConfig => n.role === "reader");
    if (readers.length > 1)
      throw new CommonError(
        "CONFIG_INVALID",
        `the configuration has ${readers.length} reader nodes: say which with --node`,
        { nodes: readers.map((r) => r.name) },
      );
    node = readers[0];
  }
  if (!node) return { values, extras, chains: [] };
  Object.assign(values, {
    rpcHost: node.rpcHost,
    pollInterval: node.pollInterval,
    workers: node.workers,
    admin: node.admin,
    history: node.history,
    historyBlocks: node.historyBlocks,
    snapshots: node.snapshots,
    segments: node.segments,
    liveLag: node.liveLag,
    fallBehind: node.fallBehind,
    progress: node.progress,
    maxBatch: node.maxBatch,
    maxLogRange: node.maxLogRange,
  });
  const chains = node.chains.map((rc) => {
    const chain = resolveChainRef(cfg.chains, rc.chain) as ChainConfig;
    return {
      chainId: chain.chainId,
      name: chain.name,
      prefix: rc.prefix ?? chain.prefix,
      rpcPort: rc.rpcPort,
      dataDir: rc.dataDir,
      upstream: rc.upstream ?? forwardingUrl(chain.upstream),
    };
  });
  return { values, extras, chains, node: node.name };
}

/** The store a role uses, from its resolved settings. */
export function storeSpecFrom(values: Record<string, unknown>, extras: FileExtras = {}): StoreSpec {
  const store = values.store;
  if (typeof store !== "string" || store === "") {
    throw new CommonError(
      "CONFIG_MISSING",
      "no object store: pass --store <dir|s3://bucket[/prefix]>, set CHAINKEEP_STORE, or give store in the config file",
    );
  }
  return parseStoreUrl(store, {
    endpoint: values.s3Endpoint as string | undefined,
    region: values.s3Region as string | undefined,
    forcePathStyle: values.s3ForcePathStyle as boolean | undefined,
    credentials: extras.s3Credentials,
  });
}

/**
 * The bus a role uses: `bus` when set (fs, nats, none); else NATS when `natsUrl` is set; else the
 * file-system bus in `busDir` or `<store dir>/.bus` with a directory store; else none.
 */
export function busSpecFrom(
  values: Record<string, unknown>,
  store: StoreSpec,
  extras: FileExtras = {},
): BusSpec {
  const natsUrl = values.natsUrl as string | undefined;
  const busDir = values.busDir as string | undefined;
  const kind =
    (values.bus as string | undefined) ?? (natsUrl ? "nats" : busDir || store.type === "fs" ? "fs" : "none");
  switch (kind) {
    case "nats": {
      if (!natsUrl)
        throw new CommonError(
          "CONFIG_MISSING",
          "bus nats needs --nats-url (or CHAINKEEP_NATS_URL, or bus.servers)",
        );
      return {
        type: "nats",
        servers: natsUrl
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
        ...(values.natsStream ? { stream: values.natsStream as string } : {}),
        ...extras.natsAuth,
      };
    }
    case "fs": {
      const dir = busDir ?? (store.type === "fs" ? `${store.dir}/.bus` : undefined);
      if (!dir)
        throw new CommonError("CONFIG_MISSING", "bus fs with an S3 store needs --bus-dir (or bus.dir)");
      return { type: "fs", dir };
    }
    case "none":
      return { type: "memory" };
    default:
      throw new CommonError("CONFIG_INVALID", `bus: ${kind} is not one of fs, nats, none`);
  }
}
