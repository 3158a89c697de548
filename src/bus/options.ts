import { CommonError } from "../util/errors.ts";
import { type OptionValues, option, type PartialOptions } from "../util/options.ts";
import { DEFAULT_NATS_STREAM } from "./nats.ts";
import type { BusSpec } from "./open.ts";

/** How a role hears of new blocks (or tells of them): a shared directory, NATS, or not at all. */
export const busOptions = {
  bus: option.choice(["fs", "nats", "none"], {
    description: "block notices: fs | nats | none (readers poll the store only)",
    arg: "<kind>",
    defaultText: "nats with --nats-url, else fs with a directory store, else none",
  }),
  natsUrl: option.text({ description: "NATS server URL(s), comma-separated", arg: "<urls>" }),
  natsStream: option.text({
    description: "JetStream stream of the notices",
    arg: "<name>",
    defaultText: DEFAULT_NATS_STREAM,
  }),
  busDir: option.text({
    description: "file-system bus directory",
    arg: "<dir>",
    defaultText: "<store>/.bus",
  }),
};

/** The bus settings of a role. */
export type BusOptions = OptionValues<typeof busOptions>;

/** NATS credentials, from the cluster file only. */
export interface NatsAuth {
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * The bus a role uses: `bus` when set (fs, nats, none); else NATS when `natsUrl` is set; else the
 * file-system bus in `busDir`, or in `<storeDir>/.bus` when the store is a directory; else none.
 */
export function busSpecFrom(
  values: PartialOptions<typeof busOptions>,
  storeDir: string | undefined,
  auth: NatsAuth = {},
): BusSpec {
  const { natsUrl, busDir } = values;
  const kind = values.bus ?? (natsUrl ? "nats" : busDir || storeDir !== undefined ? "fs" : "none");
  switch (kind) {
    case "nats": {
      if (!natsUrl)
        throw new CommonError(
          "CONFIG_MISSING",
          "bus nats needs --nats-url (or CHAINKEEP_NATS_URL, or bus.servers)",
        );
      return {
        type: "nats",
        servers: natsUrl
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
        ...(values.natsStream ? { stream: values.natsStream } : {}),
        ...auth,
      };
    }
    case "fs": {
      const dir = busDir ?? (storeDir !== undefined ? `${storeDir}/.bus` : undefined);
      if (!dir)
        throw new CommonError("CONFIG_MISSING", "bus fs with an S3 store needs --bus-dir (or bus.dir)");
      return { type: "fs", dir };
    }
    case "none":
      return { type: "memory" };
  }
}
