export { FsBus, type FsBusOptions } from "./fs.ts";
export { MemoryBus } from "./memory.ts";
export { NatsBus, type NatsBusDeps, type NatsBusOptions, type NatsBusStats } from "./nats.ts";
export { type BusSpec, describeBus, openBus } from "./open.ts";
export { type BusOptions, busOptions, busSpecFrom, type NatsAuth } from "./options.ts";
export type { Bus, HeadNotice } from "./types.ts";
