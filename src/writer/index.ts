export { WriterError, type WriterErrorCode } from "./errors.ts";
export type { CrossCheck, DiffSource } from "./fetch.ts";
export { type DeepReorg, Writer, type WriterDeps, type WriterOptions, type WriterStatus } from "./writer.ts";
