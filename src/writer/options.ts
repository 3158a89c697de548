import { DEFAULT_REORG_MAX } from "../format/index.ts";
import { type OptionValues, option, schemas } from "../util/options.ts";

/** How the writer checks each block's state diff against plain state reads on the upstream. */
export const CROSS_CHECK = ["always", "sample", "off"] as const;
export type CrossCheck = (typeof CROSS_CHECK)[number];

/** Where state diffs come from: trace_replayBlockTransactions, or debug_traceBlock's prestateTracer. */
export const DIFF_SOURCE = ["auto", "replay", "prestate"] as const;
export type DiffSource = (typeof DIFF_SOURCE)[number];

/** Options of a writer (`Writer`). */
export const writerOptions = {
  fromBlock: option.int({ description: "first height to commit when the store is empty", default: 0 }),
  pollInterval: option.int({
    description: "upstream head poll interval, in ms (when it cannot push new heads)",
    arg: "<ms>",
    min: 1,
    default: 1000,
  }),
  reorgMax: option.int({ description: "reorg window, in blocks", min: 1, default: DEFAULT_REORG_MAX }),
  crossCheck: option.choice(CROSS_CHECK, {
    description: "check state diffs against plain reads: always | sample | off",
    default: "sample",
  }),
  diffSource: option.choice(DIFF_SOURCE, {
    description: "state diffs from: auto | replay (trace_replayBlockTransactions) | prestate",
    arg: "<src>",
    default: "auto",
  }),
  initialState: option.choice(["auto", "none"], {
    description: "capture the state at --from-block: auto | none (readers forward untouched state)",
    default: "auto",
  }),
  prefetch: option.int({
    description: "blocks fetched ahead of the one being committed",
    min: 1,
    default: 4,
  }),
  subscribe: option.bool({
    description: "subscribe to newHeads when the upstream URL is ws:// (false: poll)",
    arg: "<bool>",
    default: true,
  }),
};

/** A writer's settings. */
export type WriterOptions = OptionValues<typeof writerOptions>;

/** Which chain a writer follows, where, and the writer line it writes. */
export const upstreamOptions = {
  upstream: option.list({
    description: "upstream JSON-RPC URL(s), comma-separated (ws:// enables newHeads subscriptions)",
    arg: "<url>",
    item: schemas.rpcUrl,
  }),
  chainId: option.int({ description: "chain id", arg: "<id>", min: 1, defaultText: "ask the upstream" }),
  prefix: option.text({
    description: "writer line prefix",
    arg: "<name>",
    schema: schemas.name,
    default: "primary",
  }),
};
