/**
 * The composition roots, one per role: they build a role's components in order, give each a child
 * logger, and close them in reverse. `cli/` parses arguments and calls these; nothing imports
 * `node/` but `cli/`.
 */
export { type DemoOptions, runDemo } from "../demo/index.ts";
// Operator actions on a stopped reader's data directory.
export { backtrackOffline, switchOffline } from "../reader/index.ts";
export { type ArchiveLine, openArchiveLine } from "./archive.ts";
export {
  type ArchivedChain,
  type ArchiverNodeOptions,
  type RunningArchiver,
  startArchiverNode,
} from "./archiver.ts";
export { type ExportEreOptions, exportHistory, verifyHistory } from "./export.ts";
export {
  type ReaderChainOptions,
  type ReaderConfig,
  type ReaderNodeOptions,
  type RunningReader,
  type RunningReaderNode,
  startReader,
  startReaderNode,
} from "./reader.ts";
export { type RecoverStoreOptions, type RecoverStoreSummary, recoverStore } from "./recover.ts";
export { describeStoreAndBus } from "./shared.ts";
export { type RunningWriter, startWriter, type WriterConfig } from "./writer.ts";
