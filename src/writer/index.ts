export type { CrossCheck } from "./fetch.ts";
export { Writer, type WriterDeps, type WriterOptions, type WriterStatus } from "./writer.ts";
export { startWriter, type RunningWriter, type WriterConfig } from "./start.ts";
