import { availableParallelism } from "node:os";
import { type OptionValues, option, schemas } from "../util/options.ts";

/** Options of the JSON-RPC front (one server, or its worker processes). */
export const rpcOptions = {
  rpcPort: option.port({ description: "JSON-RPC port (HTTP and WebSocket, path /)" }),
  rpcHost: option.text({ description: "address to bind", arg: "<host>", default: "127.0.0.1" }),
  upstream: option.text({
    description: "upstream to forward eth_sendRawTransaction and unknown state to",
    arg: "<url>",
    schema: schemas.rpcUrl,
  }),
  maxBatch: option.int({ description: "largest JSON-RPC batch, in requests", min: 1, default: 1000 }),
  maxLogRange: option.int({
    description: "longest eth_getLogs block range, in blocks",
    min: 1,
    default: 10_000,
  }),
  maxLogResults: option.int({
    description: "most logs one eth_getLogs returns",
    min: 1,
    defaultText: "no limit",
  }),
  maxBodyBytes: option.int({
    description: "largest HTTP request body or WebSocket message, in bytes",
    min: 1,
    default: 5 * 1024 * 1024,
  }),
  wsMaxBufferedBytes: option.int({
    description: "send buffer above which a slow WebSocket client is disconnected, in bytes",
    min: 1,
    default: 16 * 1024 * 1024,
  }),
  keepAliveTimeout: option.int({
    description: "HTTP keep-alive idle timeout, in ms",
    arg: "<ms>",
    min: 1,
    default: 65_000,
  }),
  upstreamTimeout: option.int({
    description: "timeout of a forwarded request, in ms",
    arg: "<ms>",
    min: 1,
    default: 10_000,
  }),
  callCacheEntries: option.int({
    description: "eth_call answers cached by block hash and request, in entries (0: off)",
    default: 4096,
  }),
  clientVersion: option.text({
    description: "web3_clientVersion's answer",
    default: "chainkeep/v0.1.0",
    hidden: true,
  }),
  workers: option.int({
    description: "processes serving JSON-RPC per chain (0 or 1: this process)",
    default: Math.min(2, availableParallelism()),
    defaultText: "min(2, cores)",
  }),
  admin: option.bool({
    description:
      "serve the admin methods (chainkeep_backtrack, chainkeep_switchPrefix, chainkeep_readerStatus)",
    default: false,
  }),
};

/** The JSON-RPC front's settings. */
export type RpcOptions = OptionValues<typeof rpcOptions>;
