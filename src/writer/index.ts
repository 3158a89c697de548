export { WriterError, type WriterErrorCode } from "./errors.ts";
export {
  CROSS_CHECK,
  type CrossCheck,
  DIFF_SOURCE,
  type DiffSource,
  upstreamOptions,
  type WriterOptions,
  writerOptions,
} from "./options.ts";
export { type DeepReorg, Writer, type WriterDeps, type WriterStatus } from "./writer.ts";
