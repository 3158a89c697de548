export { FsBus, type FsBusOptions } from "./fs.ts";
export { MemoryBus } from "./memory.ts";
export { NatsBus, type NatsBusDeps, type NatsBusOptions, type NatsBusStats } from "./nats.ts";
export type { Bus, HeadNotice } from "./types.ts";
