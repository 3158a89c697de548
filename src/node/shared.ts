/** Parts every composition root builds the same way. */
import { type Bus, type BusSpec, describeBus, MemoryBus, openBus } from "../bus/index.ts";
import { STORE_AND_BUS_KEYS, type storeAndBusOptions } from "../config/index.ts";
import { describeStore, type ObjectStore, onlyChainId, openStore, type StoreSpec } from "../store/index.ts";
import { sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { type Options, omit, type PartialOptions } from "../util/options.ts";

/**
 * Where a composition root's object store and bus are: a directory or a store spec; a bus spec,
 * else the file-system bus in `busDir`, else an in-process bus.
 */
export interface StoreAndBusConfig {
  store: string | StoreSpec;
  bus?: BusSpec;
  busDir?: string;
}

/**
 * A role's settings as its composition root takes them: each option of the role (any left out
 * takes its declared default), with the store and bus as specs rather than flag settings.
 */
export type RoleConfig<O extends Options> = Omit<PartialOptions<O>, keyof typeof storeAndBusOptions> &
  StoreAndBusConfig;

/** The role's options but the store's and bus's flag settings. */
export function withoutStoreAndBus<O extends Options>(decl: O): Omit<O, keyof typeof storeAndBusOptions> {
  return omit(decl, STORE_AND_BUS_KEYS as (keyof O & keyof typeof storeAndBusOptions)[]);
}

/** The object store and bus a role uses, and how to close what it opened itself. */
export interface StoreAndBus {
  store: ObjectStore;
  bus: Bus;
  /** Closes the bus and the store, unless they were given. */
  close(): Promise<void>;
}

/**
 * Opens the role's store (a directory path or a spec) and bus (a spec, else the file-system bus
 * in `busDir`, else an in-process bus), unless the caller gives them (a process serving several
 * chains shares one of each). Logs where they are.
 */
export function openStoreAndBus(
  config: StoreAndBusConfig,
  deps: { logger: Logger; store?: ObjectStore; bus?: Bus; log?: Record<string, unknown> },
): StoreAndBus {
  const storeSpec: StoreSpec =
    typeof config.store === "string" ? { type: "fs", dir: config.store } : config.store;
  const busSpec: BusSpec | undefined =
    config.bus ?? (config.busDir ? { type: "fs", dir: config.busDir } : undefined);
  const store = deps.store ?? openStore(storeSpec, { logger: deps.logger });
  const bus = deps.bus ?? (busSpec ? openBus(busSpec, { logger: deps.logger }) : new MemoryBus());
  if (!deps.store || !deps.bus) {
    deps.logger.info(
      {
        ...deps.log,
        store: deps.store ? "(given)" : describeStore(storeSpec),
        bus: deps.bus ? "(given)" : busSpec ? describeBus(busSpec) : "in-process",
      },
      "store and bus",
    );
  }
  return {
    store,
    bus,
    async close() {
      if (!deps.bus) await bus.close();
      if (!deps.store) await store.close();
    },
  };
}

/** The store and bus in words, for logs and `config check` (never credentials). */
export function describeStoreAndBus(store: StoreSpec, bus: BusSpec): { store: string; bus: string } {
  return { store: describeStore(store), bus: describeBus(bus) };
}

/**
 * The chain id to work on: `given`, else the only chain under `prefix/` in the store, waiting
 * (a poll every `pollMs`) until the writer has written its `meta.json`. Gives up when `signal`
 * aborts.
 */
export async function discoverChainId(
  store: ObjectStore,
  prefix: string,
  opts: { given?: number; logger: Logger; pollMs?: number; signal?: AbortSignal },
): Promise<number> {
  if (opts.given !== undefined) return opts.given;
  for (let logged = false; ; ) {
    try {
      return await onlyChainId(store, prefix);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (!logged) opts.logger.info({ prefix, err: errorMessage(err) }, "waiting for a chain in the store");
      logged = true;
      await sleep(opts.pollMs ?? 1000, opts.signal);
    }
  }
}

/**
 * What a composition root has built, closed in reverse order of building: a root adds each part's
 * close as it builds it, and closes everything built so far when a later part fails to start.
 */
export class Closers {
  private readonly fns: (() => unknown)[] = [];

  /** Adds the close of the part just built. */
  add(close: () => unknown): void {
    this.fns.push(close);
  }

  /** Closes every part, the last built first. */
  async close(): Promise<void> {
    for (let fn = this.fns.pop(); fn; fn = this.fns.pop()) await fn();
  }

  /** Runs `build`; when it throws, closes what was built and rethrows. */
  async guard<T>(build: () => Promise<T>): Promise<T> {
    try {
      return await build();
    } catch (err) {
      await this.close();
      throw err;
    }
  }
}
