/**
 * The cluster configuration file (YAML): chains, the object store, the bus and the nodes. Keys
 * are the CLI flags in camelCase (`--poll-interval` is `pollInterval`), so a flag, its
 * `CHAINKEEP_*` environment variable and its key in the file name one setting. Unknown keys are
 * errors: a typo must not silently fall back to a default.
 */
import { z } from "zod";

/** A zod error option: "required" when the key is missing, else `text`. */
const m = (text: string) => ({
  error: (iss: { input?: unknown }) => (iss.input === undefined ? "required" : text),
});

const POSITIVE_INT = "expected a positive integer";
const NON_NEGATIVE_INT = "expected a non-negative integer";

const positiveInt = z.number(m(POSITIVE_INT)).int(m(POSITIVE_INT)).positive(m(POSITIVE_INT));
const nonNegativeInt = z
  .number(m(NON_NEGATIVE_INT))
  .int(m(NON_NEGATIVE_INT))
  .nonnegative(m(NON_NEGATIVE_INT));
const port = z
  .number(m("expected a port number (0-65535)"))
  .int(m("expected a port number (0-65535)"))
  .min(0, m("expected a port number (0-65535)"))
  .max(65535, m("expected a port number (0-65535)"));
const text = z.string(m("expected a string")).min(1, m("must not be empty"));
const name = z
  .string(m("expected a name"))
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, m("expected a name of letters, digits, '-', '_', '.'"));
const rpcUrl = z
  .string(m("expected a URL"))
  .regex(/^(https?|wss?):\/\/\S+$/, m("expected an http(s):// or ws(s):// URL"));
const httpUrl = z.string(m("expected a URL")).regex(/^https?:\/\/\S+$/, m("expected an http(s):// URL"));
const natsUrl = z
  .string(m("expected a URL"))
  .regex(/^(nats|tls|wss?):\/\/\S+$|^[^\s/:]+:\d+$/, m("expected a nats:// URL or host:port"));
const oneOrMore = <T extends z.ZodType>(item: T) =>
  z
    .union([item, z.array(item).min(1, m("expected at least one"))], m("expected one URL or a list of URLs"))
    .transform((v) => (Array.isArray(v) ? (v as z.output<T>[]) : [v as z.output<T>]));
/** A chain named by its `name` or its `chainId`. */
const chainRef = z.union([name, positiveInt], m("expected a chain name or chain id"));

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export const CROSS_CHECK = ["always", "sample", "off"] as const;
export const DIFF_SOURCE = ["auto", "replay", "prestate"] as const;
export const INITIAL_STATE = ["auto", "none"] as const;
export const BUS_TYPES = ["fs", "nats", "none"] as const;

const S3CredentialsSchema = z.strictObject({
  accessKeyId: text,
  secretAccessKey: text,
  sessionToken: text.optional(),
});

/** The object store: a directory, or a bucket on an S3 API (AWS, MinIO, Ceph, s3rver). */
export const StoreSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({ type: z.literal("fs"), dir: text }),
    z.strictObject({
      type: z.literal("s3"),
      bucket: text,
      /** Endpoint of an S3 API other than AWS; unset for AWS. */
      endpoint: httpUrl.optional(),
      region: text.optional(),
      /** Prepended to every key in the bucket (default none). */
      keyPrefix: z.string(m("expected a string")).optional(),
      /** Default true when `endpoint` is set. */
      forcePathStyle: z.boolean(m("expected true or false")).optional(),
      /** Default: the standard AWS credential chain (environment, profile, SSO, instance metadata). */
      credentials: S3CredentialsSchema.optional(),
    }),
  ],
  m("expected type: fs or type: s3"),
);

/** The bus: a shared directory, NATS JetStream, or none (readers only poll the store). */
export const BusSchema = z.discriminatedUnion(
  "type",
  [
    /** `dir` defaults to `<store dir>/.bus` with a directory store. */
    z.strictObject({ type: z.literal("fs"), dir: text.optional() }),
    z.strictObject({ type: z.literal("none") }),
    z.strictObject({
      type: z.literal("nats"),
      servers: oneOrMore(natsUrl),
      stream: name.optional(),
      user: text.optional(),
      pass: text.optional(),
      token: text.optional(),
    }),
  ],
  m("expected type: fs, nats or none"),
);

/** One chain ("shard"): its id, a name, where its upstream node is, its reorg window. */
export const ChainSchema = z.strictObject({
  chainId: positiveInt,
  name,
  /** Upstream JSON-RPC URL(s); the writer follows the first that answers with this chain id. */
  upstream: oneOrMore(rpcUrl),
  reorgMax: positiveInt.default(64),
  /** Writer line in the store the chain's writer writes (`primary` when absent). */
  prefix: name.optional(),
  /** First height committed when the store has nothing for the chain (default 0). */
  fromBlock: nonNegativeInt.default(0),
});

/** A writer process: one per chain. */
export const WriterNodeSchema = z.strictObject({
  name,
  role: z.literal("writer"),
  chain: chainRef,
  /** Serve /status, /health and /metrics on this port. */
  statusPort: port.optional(),
  statusHost: text.optional(),
  /** Upstream head poll interval, in ms. */
  pollInterval: positiveInt.optional(),
  crossCheck: z.enum(CROSS_CHECK, m(`expected one of ${CROSS_CHECK.join(", ")}`)).optional(),
  diffSource: z.enum(DIFF_SOURCE, m(`expected one of ${DIFF_SOURCE.join(", ")}`)).optional(),
  initialState: z.enum(INITIAL_STATE, m(`expected one of ${INITIAL_STATE.join(", ")}`)).optional(),
  /** Also pack segments, apply bundle retention and take scheduled snapshots (default false). */
  pack: z.boolean().optional(),
  /** Blocks per segment (default 8192). */
  segmentBlocks: positiveInt.optional(),
  /** Delete per-block bundles this far below the tip once packed (default: keep them). */
  retainBlocks: positiveInt.optional(),
  /** Take a snapshot every this many finalized blocks (default: never). */
  snapshotEvery: positiveInt.optional(),
  /** Snapshots kept by the retention rule (default 2). */
  snapshotKeep: positiveInt.optional(),
  /** Pause between packing passes, in ms (default 10000). */
  packInterval: positiveInt.optional(),
});

/** One chain a reader serves. */
export const ReaderChainSchema = z.strictObject({
  chain: chainRef,
  /** JSON-RPC port of this chain (HTTP and WebSocket). */
  rpcPort: port,
  /** Local database directory of this chain. */
  dataDir: text,
  /** Where to forward eth_sendRawTransaction and unknown state (default: the chain's upstream). */
  upstream: rpcUrl.optional(),
  /**
   * Writer line this reader follows (default: the chain's `prefix`, else the line its database
   * already follows, else `primary`). Changing it switches the reader to another line.
   */
  prefix: name.optional(),
});

/** A reader process: serves one or more chains, each on its own port with its own database. */
export const ReaderNodeSchema = z.strictObject({
  name,
  role: z.literal("reader"),
  chains: z.array(ReaderChainSchema).min(1, m("a reader serves at least one chain")),
  rpcHost: text.optional(),
  /** Store poll interval, in ms. */
  pollInterval: positiveInt.optional(),
  /** RPC worker processes per chain (0 or 1: in-process). */
  workers: nonNegativeInt.optional(),
  maxBatch: positiveInt.optional(),
  maxLogRange: positiveInt.optional(),
  /** Serve the admin methods (backtrack, switch, status) on the chains' RPC ports (default false). */
  admin: z.boolean().optional(),
  /** State history: `full` (the last `historyBlocks`, the default) or `archive` (every height). */
  history: z.enum(["full", "archive"], m("expected one of full, archive")).optional(),
  /** Blocks of state history in `full` mode (default 128). */
  historyBlocks: positiveInt.optional(),
  /** Restore the newest snapshot when the database is new (default true). */
  snapshots: z.boolean().optional(),
  /** Backfill from segments (default true). */
  segments: z.boolean().optional(),
  /** LIVE within this many blocks of the writer's head (default 2). */
  liveLag: nonNegativeInt.optional(),
  /** A LIVE reader this many blocks behind goes back to HEAD (default 256). */
  fallBehind: positiveInt.optional(),
  /** Sync progress: tty (bars), log or off (default: tty on a terminal, else log). */
  progress: z.enum(["tty", "log", "off"], m("expected one of tty, log, off")).optional(),
});

export const NodeSchema = z.discriminatedUnion("role", [WriterNodeSchema, ReaderNodeSchema], {
  error: "expected role: writer or role: reader",
});

/** The whole file. */
export const ClusterSchema = z
  .strictObject({
    logLevel: z.enum(LOG_LEVELS, m(`expected one of ${LOG_LEVELS.join(", ")}`)).optional(),
    store: StoreSchema.optional(),
    bus: BusSchema.optional(),
    chains: z.array(ChainSchema).default([]),
    nodes: z.array(NodeSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    const ids = new Map<number, number>();
    const names = new Map<string, number>();
    cfg.chains.forEach((c, i) => {
      const dupId = ids.get(c.chainId);
      if (dupId !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["chains", i, "chainId"],
          message: `chain id ${c.chainId} is already used by chains[${dupId}]`,
        });
      ids.set(c.chainId, i);
      const dupName = names.get(c.name);
      if (dupName !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["chains", i, "name"],
          message: `name ${c.name} is already used by chains[${dupName}]`,
        });
      names.set(c.name, i);
    });
    const known = (ref: string | number) =>
      typeof ref === "number" ? ids.has(ref) : names.has(ref) || ids.has(Number(ref));
    const nodeNames = new Map<string, number>();
    const writers = new Map<string, number>();
    const dataDirs = new Map<string, string>();
    cfg.nodes.forEach((n, i) => {
      const dup = nodeNames.get(n.name);
      if (dup !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["nodes", i, "name"],
          message: `node name ${n.name} is already used by nodes[${dup}]`,
        });
      nodeNames.set(n.name, i);
      if (n.role === "writer") {
        if (!known(n.chain)) {
          ctx.addIssue({
            code: "custom",
            path: ["nodes", i, "chain"],
            message: `no chain ${n.chain} in chains`,
          });
          return;
        }
        const key = String(resolveChainRef(cfg.chains, n.chain)?.chainId);
        const other = writers.get(key);
        if (other !== undefined)
          ctx.addIssue({
            code: "custom",
            path: ["nodes", i, "chain"],
            message: `chain ${n.chain} already has a writer (nodes[${other}]): one writer per chain`,
          });
        writers.set(key, i);
        return;
      }
      const ports = new Map<number, number>();
      const served = new Set<number>();
      n.chains.forEach((rc, j) => {
        const path = ["nodes", i, "chains", j];
        const chain = resolveChainRef(cfg.chains, rc.chain);
        if (!chain) {
          ctx.addIssue({
            code: "custom",
            path: [...path, "chain"],
            message: `no chain ${rc.chain} in chains`,
          });
        } else if (served.has(chain.chainId)) {
          ctx.addIssue({
            code: "custom",
            path: [...path, "chain"],
            message: `chain ${rc.chain} is served twice by this node`,
          });
        } else served.add(chain.chainId);
        const p = ports.get(rc.rpcPort);
        if (rc.rpcPort !== 0 && p !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [...path, "rpcPort"],
            message: `port ${rc.rpcPort} is already used by chains[${p}] of this node`,
          });
        ports.set(rc.rpcPort, j);
        const d = dataDirs.get(rc.dataDir);
        if (d !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [...path, "dataDir"],
            message: `data directory ${rc.dataDir} is already used by ${d}`,
          });
        dataDirs.set(rc.dataDir, `nodes[${i}].chains[${j}]`);
      });
    });
    if (cfg.bus?.type === "fs" && cfg.bus.dir === undefined && cfg.store?.type !== "fs")
      ctx.addIssue({
        code: "custom",
        path: ["bus", "dir"],
        message: "required unless the store is a directory (then it defaults to <store dir>/.bus)",
      });
  });

export type ClusterConfig = z.output<typeof ClusterSchema>;
export type ChainConfig = ClusterConfig["chains"][number];
export type StoreConfig = z.output<typeof StoreSchema>;
export type BusConfig = z.output<typeof BusSchema>;
export type WriterNodeConfig = z.output<typeof WriterNodeSchema>;
export type ReaderNodeConfig = z.output<typeof ReaderNodeSchema>;
export type NodeConfig = z.output<typeof NodeSchema>;

/** The chain a node entry names (by name, by id, or by an id written as a string). */
export function resolveChainRef(
  chains: readonly ChainConfig[],
  ref: string | number,
): ChainConfig | undefined {
  return (
    chains.find((c) => c.name === ref) ??
    chains.find((c) => c.chainId === (typeof ref === "number" ? ref : Number(ref)))
  );
}
