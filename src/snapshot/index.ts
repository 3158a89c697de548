export {
  type ArchivingOptions,
  SnapshotSchedule,
  type SnapshotScheduleOptions,
  startArchiving,
} from "./schedule.ts";
export {
  type CreateSnapshotOptions,
  createSnapshot,
  listSnapshots,
  readChunk,
  readManifest,
  readSnapshotBlock,
  retireSnapshots,
  type SnapshotRef,
  type SnapshotReport,
  StateImage,
  verifySnapshot,
} from "./snapshot.ts";
