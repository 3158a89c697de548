/**
 * Configuration: the roles' options (composed from their components' declarations), the
 * cluster file (YAML, validated with errors by key), and what the file says for one process.
 */
export { ConfigError, type ConfigErrorCode } from "./errors.ts";
export { formatIssues, formatPath, loadConfig, parseConfig } from "./load.ts";
export {
  archiverRole,
  demoRole,
  exportRole,
  fileOptions,
  globalOptions,
  lineOptions,
  packRole,
  READER_CHAIN_KEYS,
  type ReaderSettings,
  readerRole,
  recoverRole,
  resumeRole,
  STORE_AND_BUS_KEYS,
  snapshotCreateRole,
  snapshotListRole,
  snapshotRetireRole,
  snapshotVerifyRole,
  storeAndBusOptions,
  WRITER_CHAIN_KEYS,
  type WriterSettings,
  writerRole,
} from "./roles.ts";
export {
  type ArchiverNodeConfig,
  type BusConfig,
  type ChainConfig,
  type ClusterConfig,
  ClusterSchema,
  type NodeConfig,
  type ReaderNodeConfig,
  resolveChainRef,
  type StoreConfig,
  type WriterNodeConfig,
} from "./schema.ts";
export {
  clusterStoreAndBus,
  type FileExtras,
  type FileSettings,
  forwardingUrl,
  type ReaderChainSettings,
  type ReaderFileSettings,
  readerFileSettings,
  storeAndBusSpecs,
  storeSpecOf,
  writerFileSettings,
} from "./settings.ts";
