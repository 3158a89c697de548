/**
 * The cluster configuration file (YAML): chains, the object store, the bus and the nodes. Keys
 * are the CLI flags in camelCase (`--poll-interval` is `pollInterval`), so a flag, its
 * `CHAINKEEP_*` environment variable and its key in the file name one setting. Unknown keys are
 * errors: a typo must not silently fall back to a default.
 */
import { z } from "zod";
import { fileShape, message as m, omit, pick, schemas } from "../util/options.ts";
import {
  archiverRole,
  globalOptions,
  READER_CHAIN_KEYS,
  readerRole,
  STORE_AND_BUS_KEYS,
  WRITER_CHAIN_KEYS,
  writerRole,
} from "./roles.ts";

const { positiveInt, text, name, httpUrl, natsUrl } = schemas;
/** A chain named by its `name` or its `chainId`. */
const chainRef = z.union([name, positiveInt], m("expected a chain name or chain id"));

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
      servers: schemas.oneOrMore(natsUrl),
      stream: name.optional(),
      user: text.optional(),
      pass: text.optional(),
      token: text.optional(),
    }),
  ],
  m("expected type: fs, nats or none"),
);

/** A chain's entry: its name, and the writer's options that belong to the chain. */
const chainOptions = pick(writerRole, WRITER_CHAIN_KEYS);

/**
 * One chain ("shard"): its id, a name, where its upstream node is (the writer follows the first
 * URL that answers with this chain id), its reorg window, the writer line its writer writes and
 * the first height it commits.
 */
export const ChainSchema = z.strictObject({
  chainId: chainOptions.chainId.schema,
  name,
  upstream: chainOptions.upstream.schema,
  ...fileShape(omit(chainOptions, ["chainId", "upstream"])),
});

/** A writer process (one per chain): every writer option but the chain's, store and bus. */
export const WriterNodeSchema = z.strictObject({
  name,
  role: z.literal("writer"),
  chain: chainRef,
  ...fileShape(omit(writerRole, [...WRITER_CHAIN_KEYS, ...STORE_AND_BUS_KEYS])),
});

/** The options of one chain a reader serves. */
const readerChainOptions = pick(readerRole, READER_CHAIN_KEYS);

/**
 * One chain a reader serves: its port and database directory; where to forward what the mirror
 * cannot answer (default: the chain's upstream); the writer line it follows (default: the chain's
 * `prefix`, else the line its database already follows, else `primary`: changing it switches the
 * reader to another line).
 */
export const ReaderChainSchema = z.strictObject({
  chain: chainRef,
  rpcPort: readerChainOptions.rpcPort.schema,
  dataDir: readerChainOptions.dataDir.schema,
  upstream: readerChainOptions.upstream.schema.optional(),
  prefix: readerChainOptions.prefix.schema.optional(),
});

/** A reader process: serves one or more chains, each on its own port with its own database. */
export const ReaderNodeSchema = z.strictObject({
  name,
  role: z.literal("reader"),
  chains: z.array(ReaderChainSchema).min(1, m("a reader serves at least one chain")),
  ...fileShape(omit(readerRole, [...READER_CHAIN_KEYS, ...STORE_AND_BUS_KEYS])),
});

/**
 * An archiver process: like a reader (one or more chains, each on its own port with its own
 * database), in archive history mode with a local copy of the store, scheduled snapshots and the
 * recovery API.
 */
export const ArchiverNodeSchema = z.strictObject({
  name,
  role: z.literal("archiver"),
  chains: z.array(ReaderChainSchema).min(1, m("an archiver keeps at least one chain")),
  ...fileShape(omit(archiverRole, [...READER_CHAIN_KEYS, ...STORE_AND_BUS_KEYS])),
});

export const NodeSchema = z.discriminatedUnion(
  "role",
  [WriterNodeSchema, ReaderNodeSchema, ArchiverNodeSchema],
  {
    error: "expected role: writer, reader or archiver",
  },
);

/** The whole file. */
export const ClusterSchema = z
  .strictObject({
    ...fileShape(globalOptions),
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
export type ArchiverNodeConfig = z.output<typeof ArchiverNodeSchema>;
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
