import { type OptionValues, option } from "../util/options.ts";

/** Options of the demo cluster. */
export const demoOptions = {
  dir: option.text({
    description: "working directory (store, databases, cluster.yaml)",
    arg: "<dir>",
    defaultText: "a new temporary one",
  }),
  rpcPort: option.port({ description: "first reader's RPC port (the others follow it)", default: 8545 }),
  blockTime: option.int({
    description: "anvil block time, in seconds (0: a block per transaction)",
    arg: "<s>",
    default: 1,
  }),
  txInterval: option.int({
    description: "pause between traffic rounds, in ms",
    arg: "<ms>",
    min: 1,
    default: 500,
  }),
  chains: option.int({
    description:
      "chains to mirror: 1 (one writer, two readers) or more (a beacon and shards, a writer each, one reader process serving all)",
    min: 1,
    default: 1,
  }),
};

/** The demo's settings. */
export type DemoOptions = OptionValues<typeof demoOptions>;
