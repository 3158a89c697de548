/**
 * What the cluster file says for the process a role runs as, flattened to the roles' setting
 * names (the CLI flags in camelCase: `--rpc-port` ↔ `rpcPort` ↔ `CHAINKEEP_RPC_PORT`), so that one
 * resolver (`resolveOptions`: flag > env > file > default) treats every setting alike.
 */
import { type BusOptions, type BusSpec, busSpecFrom, type NatsAuth } from "../bus/index.ts";
import { type S3Credentials, type StoreOptions, type StoreSpec, storeSpecFrom } from "../store/index.ts";
import { CommonError } from "../util/errors.ts";
import { type READER_CHAIN_KEYS, WRITER_CHAIN_KEYS } from "./roles.ts";
import {
  type ArchiverNodeConfig,
  type ChainConfig,
  type ClusterConfig,
  type NodeConfig,
  type ReaderNodeConfig,
  resolveChainRef,
  type WriterNodeConfig,
} from "./schema.ts";

/** Settings only the file can hold (secrets have no flag). */
export interface FileExtras {
  s3Credentials?: S3Credentials;
  natsAuth?: NatsAuth;
}

/** What the file says for one process: settings by name, and the file-only extras. */
export interface FileSettings {
  values: Record<string, unknown>;
  extras: FileExtras;
  /** The node entry used, if any. */
  node?: string;
}

/** The file's store and bus sections as settings. */
function storeAndBus(cfg: ClusterConfig): FileSettings {
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
  if (cfg.logLevel) values.logLevel = cfg.logLevel;
  return { values, extras };
}

/** The store a role's settings name, with the file's credentials. */
export function storeSpecOf(values: StoreOptions, extras: FileExtras = {}): StoreSpec {
  return storeSpecFrom(values, extras.s3Credentials);
}

/** The store and bus a role's settings name, with the file's credentials. */
export function storeAndBusSpecs(
  values: StoreOptions & BusOptions,
  extras: FileExtras = {},
): { store: StoreSpec; bus: BusSpec } {
  const store = storeSpecOf(values, extras);
  return { store, bus: busSpecFrom(values, store.type === "fs" ? store.dir : undefined, extras.natsAuth) };
}

/** The store and bus the file describes, as specs (without a store: neither). */
export function clusterStoreAndBus(cfg: ClusterConfig): { store?: StoreSpec; bus?: BusSpec } {
  const { store, bus: b } = cfg;
  if (!store) return {};
  const nats = b?.type === "nats" ? b : undefined;
  const bus = busSpecFrom(
    {
      bus: b?.type,
      busDir: b?.type === "fs" ? b.dir : undefined,
      natsUrl: nats?.servers.join(","),
      natsStream: nats?.stream,
    },
    store.type === "fs" ? store.dir : undefined,
    nats && { user: nats.user, pass: nats.pass, token: nats.token },
  );
  return { store, bus };
}

function nodeByName(cfg: ClusterConfig, node: string): NodeConfig {
  const n = cfg.nodes.find((x) => x.name === node);
  if (!n) {
    throw new CommonError("CONFIG_INVALID", `no node named ${node} in the configuration`, {
      node,
      nodes: cfg.nodes.map((x) => x.name),
    });
  }
  return n;
}

/** A node entry's settings: every key but its name, role and chain(s). */
function entrySettings(n: NodeConfig): Record<string, unknown> {
  const { name: _name, role: _role, ...rest } = n;
  const values: Record<string, unknown> = { ...rest };
  delete values.chain;
  delete values.chains;
  return values;
}

/** The reader's forwarding URL: the first http(s) upstream, else the first one as http(s). */
export function forwardingUrl(upstreams: readonly string[]): string | undefined {
  return upstreams.find((u) => /^https?:/.test(u)) ?? upstreams[0]?.replace(/^ws/, "http");
}

/**
 * The file's settings for a writer (and the archive commands, which work on a writer's line): the
 * node named `node` (a writer entry), else the chain with id `chainId`, else the only chain. Its
 * chain entry gives the chain's options (`WRITER_CHAIN_KEYS`), its node entry the rest.
 */
export function writerFileSettings(
  cfg: ClusterConfig,
  select: { node?: string; chainId?: number },
): FileSettings {
  const { values, extras } = storeAndBus(cfg);
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
    for (const k of WRITER_CHAIN_KEYS) values[k] = chain[k];
  }
  if (node) Object.assign(values, entrySettings(node));
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
export interface ReaderFileSettings extends FileSettings {
  /** The chains of the node entry (empty without one). */
  chains: ReaderChainSettings[];
}

/** The file's settings for a reader: the node named `node`, else the only reader node, if any. */
export function readerFileSettings(
  cfg: ClusterConfig,
  select: { node?: string; role?: "reader" | "archiver" },
): ReaderFileSettings {
  const { values, extras } = storeAndBus(cfg);
  const role = select.role ?? "reader";
  const ofRole = (n: NodeConfig): n is ReaderNodeConfig | ArchiverNodeConfig => n.role === role;
  let node: ReaderNodeConfig | ArchiverNodeConfig | undefined;
  if (select.node !== undefined) {
    const n = nodeByName(cfg, select.node);
    if (!ofRole(n))
      throw new CommonError("CONFIG_INVALID", `node ${select.node} is a ${n.role}, not a ${role}`);
    node = n;
  } else {
    const nodes = cfg.nodes.filter(ofRole);
    if (nodes.length > 1)
      throw new CommonError(
        "CONFIG_INVALID",
        `the configuration has ${nodes.length} ${role} nodes: say which with --node`,
        { nodes: nodes.map((r) => r.name) },
      );
    node = nodes[0];
  }
  if (!node) return { values, extras, chains: [] };
  Object.assign(values, entrySettings(node));
  const chains = node.chains.map((rc) => {
    const chain = resolveChainRef(cfg.chains, rc.chain) as ChainConfig;
    return {
      chainId: chain.chainId,
      name: chain.name,
      prefix: rc.prefix ?? chain.prefix,
      rpcPort: rc.rpcPort,
      dataDir: rc.dataDir,
      upstream: rc.upstream ?? forwardingUrl(chain.upstream),
    } satisfies { [K in (typeof READER_CHAIN_KEYS)[number]]: unknown } & { name: string };
  });
  if (chains.length === 1) Object.assign(values, chains[0]);
  return { values, extras, chains, node: node.name };
}
