import type { Logger } from "../util/logger.ts";
import { FsBus } from "./fs.ts";
import { MemoryBus } from "./memory.ts";
import { DEFAULT_NATS_STREAM, NatsBus, type NatsBusOptions } from "./nats.ts";
import type { Bus } from "./types.ts";

/**
 * Which bus a role uses: `fs` (processes on one machine share a directory), `memory` (one
 * process; across processes this means no notices: readers find blocks by polling the store) or
 * `nats` (JetStream).
 */
export type BusSpec = { type: "fs"; dir: string } | { type: "memory" } | ({ type: "nats" } & NatsBusOptions);

/** Opens the bus a spec names. */
export function openBus(spec: BusSpec, deps: { logger: Logger }): Bus {
  switch (spec.type) {
    case "fs":
      return new FsBus({ dir: spec.dir }, deps);
    case "memory":
      return new MemoryBus();
    case "nats": {
      const { type: _type, ...opts } = spec;
      return new NatsBus(opts, deps);
    }
  }
}

/** The bus in words, for logs and status (never credentials). */
export function describeBus(spec: BusSpec): string {
  switch (spec.type) {
    case "fs":
      return `fs ${spec.dir}`;
    case "memory":
      return "none (store polling only)";
    case "nats":
      return `nats ${[spec.servers].flat().join(",")} stream ${spec.stream ?? DEFAULT_NATS_STREAM}`;
  }
}
