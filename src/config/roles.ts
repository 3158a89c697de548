/**
 * The options of each role, composed from its components' declarations (each declared once, in
 * its component), and where the cluster file holds them. The CLI's flags, the `CHAINKEEP_*`
 * variables, the file's node schemas and the roles' typed settings all come from these.
 */
import {
  archiverOptions,
  archivingOptions,
  exportOptions,
  recoverOptions,
  snapshotOptions,
  verifyOptions,
} from "../archive/index.ts";
import { busOptions } from "../bus/index.ts";
import { demoOptions } from "../demo/index.ts";
import { readerOptions, replicatorOptions } from "../reader/index.ts";
import { rpcOptions } from "../rpc/index.ts";
import { storeOptions } from "../store/index.ts";
import { progressOptions, syncOptions } from "../sync/index.ts";
import { loggerOptions } from "../util/logger.ts";
import { type OptionValues, omit, option } from "../util/options.ts";
import { statusOptions } from "../util/status-server.ts";
import { upstreamOptions, writerOptions } from "../writer/index.ts";

/** The cluster file and this process's entry in it (flags and variables only). */
export const fileOptions = {
  config: option.text({ description: "cluster configuration file (YAML)", arg: "<file>" }),
  node: option.text({
    description: "this process's entry under nodes in the configuration file",
    arg: "<name>",
  }),
};

/** Options of every command (before the subcommand); the file's top-level `logLevel`. */
export const globalOptions = loggerOptions;

/** The object store and the bus (the file's `store` and `bus` sections). */
export const storeAndBusOptions = { ...storeOptions, ...busOptions };

/** Keys of {@link storeAndBusOptions}. */
export const STORE_AND_BUS_KEYS = Object.keys(storeAndBusOptions) as (keyof typeof storeAndBusOptions)[];

/** `chainkeep writer`: follows an upstream and commits every block; optionally archives. */
export const writerRole = {
  ...storeAndBusOptions,
  ...upstreamOptions,
  ...writerOptions,
  ...statusOptions,
  pack: option.bool({
    description: "also pack segments, apply bundle retention and take scheduled snapshots",
    default: false,
  }),
  ...archivingOptions,
};

/** A writer's settings. */
export type WriterSettings = OptionValues<typeof writerRole>;

/** Writer options the file gives in the chain's entry (`chains[]`), not in the writer's node entry. */
export const WRITER_CHAIN_KEYS = ["upstream", "chainId", "reorgMax", "prefix", "fromBlock"] as const;

/** `chainkeep reader`: mirrors one chain, or every chain of a node entry, and serves JSON-RPC. */
export const readerRole = {
  ...storeAndBusOptions,
  ...readerOptions,
  ...rpcOptions,
  ...replicatorOptions,
  ...syncOptions,
  ...progressOptions,
};

/** A reader's settings. */
export type ReaderSettings = OptionValues<typeof readerRole>;

/**
 * Reader options that name one chain: the file gives them per chain (`nodes[].chains[]`, the chain
 * id as its `chain`); a flag or variable sets them only for a node serving one chain (`prefix`
 * applies to every chain).
 */
export const READER_CHAIN_KEYS = ["chainId", "dataDir", "rpcPort", "upstream", "prefix"] as const;

/** `chainkeep archiver`: a reader in archive history mode that keeps a local copy of its chains. */
export const archiverRole = {
  ...readerRole,
  ...archiverOptions,
};

/** `chainkeep recover store`. */
export const recoverRole = {
  ...omit(storeOptions, ["store"]),
  ...recoverOptions,
  prefix: upstreamOptions.prefix,
  chainId: readerOptions.chainId,
};

/** `chainkeep export`: history files from a writer line in the store, or from a database. */
export const exportRole = {
  ...storeOptions,
  prefix: upstreamOptions.prefix,
  chainId: readerOptions.chainId,
  ...exportOptions,
};

/** Which writer line of which chain an archive command works on. */
export const lineOptions = {
  ...storeOptions,
  prefix: upstreamOptions.prefix,
  chainId: readerOptions.chainId,
};

/** `chainkeep pack`. */
export const packRole = {
  ...lineOptions,
  ...archivingOptions,
  watch: option.bool({ description: "keep packing as the chain grows", default: false }),
};

/** `chainkeep snapshot create`. */
export const snapshotCreateRole = {
  ...lineOptions,
  ...snapshotOptions,
  keep: option.int({ description: "then retire all but the newest n snapshots", min: 1 }),
};

/** `chainkeep snapshot list`. */
export const snapshotListRole = lineOptions;

/** `chainkeep snapshot verify`. */
export const snapshotVerifyRole = { ...lineOptions, ...verifyOptions };

/** `chainkeep snapshot retire`. */
export const snapshotRetireRole = {
  ...lineOptions,
  keep: option.int({ description: "snapshots kept", min: 1, default: 2 }),
};

/** `chainkeep demo`. */
export const demoRole = demoOptions;

/** `chainkeep resume-writer`. */
export const resumeRole = {
  statusPort: option.port({ description: "the writer's --status-port" }),
  host: option.text({ description: "the writer's status address", arg: "<host>", default: "127.0.0.1" }),
};
