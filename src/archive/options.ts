import { type OptionValues, option, schemas } from "../util/options.ts";

/** Options of the packer: segment size and bundle retention. */
export const packerOptions = {
  segmentBlocks: option.int({ description: "blocks per segment", min: 1, default: 8192 }),
  retainBlocks: option.int({
    description: "delete per-block bundles this far below the tip once packed, in blocks",
    defaultText: "keep",
  }),
};

/** Options of the archiving loop: packing, retention and scheduled snapshots. */
export const archivingOptions = {
  ...packerOptions,
  snapshotEvery: option.int({
    description: "take a snapshot every n finalized blocks",
    min: 1,
    defaultText: "never",
  }),
  snapshotKeep: option.int({ description: "snapshots kept by the retention rule", min: 1, default: 2 }),
  packInterval: option.int({
    description: "pause between packing passes, in ms",
    arg: "<ms>",
    min: 1,
    default: 10_000,
  }),
};

/** The settings of the archiving loop. */
export type ArchivingOptions = OptionValues<typeof archivingOptions>;

/** Options of `createSnapshot`. */
export const snapshotOptions = {
  height: option.int({ description: "height", defaultText: "the newest finalized one" }),
  chunkEntries: option.int({ description: "accounts plus storage slots per chunk", min: 1, default: 50_000 }),
};

/** Options of `verifySnapshot` (and of `chainkeep snapshot verify`). */
export const verifyOptions = {
  height: option.int({ description: "snapshot height", defaultText: "every snapshot" }),
  checkBlocks: option.int({
    description: "cross-check with the diffs of this many blocks before the height",
    default: 64,
  }),
  segments: option.bool({ description: "verify every segment too", default: false }),
};

/** Options of an archiver (`chainkeep archiver`), beyond a reader's. */
export const archiverOptions = {
  snapshotEvery: option.text({
    description:
      "take a snapshot from the local copy every interval: hours (24h), minutes (30m) or blocks (10000b)",
    arg: "<interval>",
    default: "24h",
  }),
  snapshotKeep: option.int({ description: "snapshots kept, locally and in the store", min: 1, default: 2 }),
  snapshotChunkEntries: option.int({
    description: "accounts plus storage slots per snapshot chunk",
    min: 1,
    default: 50_000,
  }),
  keepInterval: option.int({
    description: "pause between passes copying the store into the local copy, in ms",
    arg: "<ms>",
    min: 1,
    default: 1000,
  }),
  recoveryToken: option.text({
    description: "bearer token of the recovery API (required when --rpc-host is not loopback)",
    arg: "<token>",
  }),
  recoveryTokenFile: option.text({ description: "file holding the recovery API's token", arg: "<file>" }),
};

/** Options of `chainkeep recover store`. */
export const recoverOptions = {
  to: option.text({ description: "the store to rebuild: a directory or s3://bucket/prefix", arg: "<store>" }),
  from: option.list({
    description: "archivers' HTTP URLs, tried in order for each object",
    arg: "<url,...>",
    item: schemas.httpUrl,
  }),
  recoveryToken: archiverOptions.recoveryToken,
  recoveryTokenFile: archiverOptions.recoveryTokenFile,
};

/** Options of `chainkeep export`. */
export const exportOptions = {
  format: option.choice(["ere"], {
    description: "history file format: ere (e2store, eth-clients/e2store-format-specs)",
    default: "ere",
  }),
  out: option.text({ description: "directory the files go to", arg: "<dir>" }),
  from: option.int({ description: "first block", defaultText: "the first one held" }),
  to: option.int({ description: "last block", defaultText: "the writer's tip (or the database's)" }),
  dataDir: option.text({
    description: "read a stopped reader's or archiver's database instead of the store",
    arg: "<dir>",
  }),
  network: option.text({
    description: "network name in the file names",
    arg: "<name>",
    defaultText: "chain<id>",
  }),
};
