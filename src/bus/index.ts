export { FsBus, type FsBusOptions } from "./fs.ts";
export { MemoryBus } from "./memory.ts";
export type { Bus, HeadNotice } from "./types.ts";
