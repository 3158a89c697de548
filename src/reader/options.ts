import { type OptionValues, option, schemas } from "../util/options.ts";

/** Options of the replicator (following the store's head block by block). */
export const replicatorOptions = {
  pollInterval: option.int({
    description: "store poll interval, in ms (bus notices wake the reader earlier)",
    arg: "<ms>",
    min: 1,
    default: 1000,
  }),
  prefetch: option.int({
    description: "bundles fetched ahead of the one applied, in parallel",
    min: 1,
    default: 8,
  }),
  listLimit: option.int({
    description: "head keys listed per store request",
    min: 1,
    default: 1000,
    hidden: true,
  }),
};

/** The replicator's settings. */
export type ReplicatorOptions = OptionValues<typeof replicatorOptions>;

/** Which chain a reader mirrors, from which writer line, into which directory. */
export const readerOptions = {
  dataDir: option.text({ description: "local database directory", arg: "<dir>" }),
  prefix: option.text({
    description: "writer line prefix; another one than the database follows switches lines",
    arg: "<name>",
    schema: schemas.name,
    defaultText: "the one the database follows, primary when new",
  }),
  chainId: option.int({
    description: "chain id",
    arg: "<id>",
    min: 1,
    defaultText: "the only chain under the prefix",
  }),
};
