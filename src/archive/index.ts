/**
 * Archiving of a chain in the object store: segments of finalized blocks (packing, ranged reads,
 * verification, bundle retention), state snapshots (creation, reading, verification,
 * retirement, the schedule), and the archiving loop that runs them (`chainkeep pack --watch`,
 * `chainkeep writer --pack`). Also the sources a reader's staged sync reads them through.
 */
export { startArchiving } from "./archiving.ts";
export { type ReadBlocksOptions, readBlocks } from "./blocks.ts";
export { crc32c, e2Record, readE2Records, snappyFrame, snappyUnframe } from "./e2store.ts";
export {
  buildEreFile,
  ERE_BLOCKS,
  ERE_TYPE,
  type EreExportReport,
  type EreFileReport,
  type ExportBlock,
  exportEre,
  verifyEreDir,
  verifyEreFile,
} from "./ere.ts";
export { ArchiveKeeper, type KeeperOptions, type KeeperStatus } from "./keeper.ts";
export {
  type ArchivingOptions,
  archiverOptions,
  archivingOptions,
  exportOptions,
  packerOptions,
  recoverOptions,
  snapshotOptions,
  verifyOptions,
} from "./options.ts";
export { Packer, type PackReport } from "./packer.ts";
export {
  type RecoveryProgress,
  type RecoveryReport,
  type RecoverySource,
  type Refusal,
  recoverLine,
} from "./recover.ts";
export { SnapshotSchedule, type SnapshotScheduleOptions } from "./schedule.ts";
export {
  canonicalHeads,
  deleteBundles,
  listSegments,
  mapLimit,
  readSegmentBlocks,
  readSegmentIndex,
  type SegmentRef,
  verifySegment,
  writeSegment,
} from "./segments.ts";
export {
  blockAt,
  createSnapshot,
  listSnapshots,
  readChunk,
  readManifest,
  readSnapshotBlock,
  retireSnapshots,
  type SnapshotInput,
  type SnapshotRef,
  type SnapshotReport,
  StateImage,
  verifySnapshot,
  writeSnapshot,
} from "./snapshot.ts";
export { SegmentRanges, StoreCheckpoints } from "./sources.ts";
export { EMPTY_TRIE_ROOT, SortedTrie, StateRootBuilder, stateRootOf } from "./state-root.ts";
export {
  ArchiverSnapshots,
  type ArchiveState,
  parseSnapshotEvery,
  type SnapshotEvery,
  uploadSnapshot,
} from "./uploads.ts";
export { type ArchiveCheck, verifyArchive } from "./verify.ts";
