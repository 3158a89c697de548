export type { CrossCheck, DiffSource } from "./fetch.ts";
export { type RunningWriter, startWriter, type WriterConfig } from "./start.ts";
export { type DeepReorg, Writer, type WriterDeps, type WriterOptions, type WriterStatus } from "./writer.ts";
