/** Starts real anvil nodes for tests, on loopback ports chosen by the OS (see src/demo/anvil.ts). */
import { type AnvilNode, anvilBinary, spawnAnvil } from "../../src/demo/anvil.ts";
import { type JsonRpcResponse, rpc } from "./net.ts";

/** Path of the anvil binary installed by `@foundry-rs/anvil-linux-amd64`. */
export const ANVIL_BIN = anvilBinary();

/** Options of {@link startAnvil}. */
export interface StartAnvilOptions {
  /** Seconds between blocks (`--block-time`); undefined or 0 = automine, one block per transaction. */
  blockTime?: number;
  /** Extra command-line arguments (e.g. `["--hardfork", "cancun"]`). */
  args?: string[];
  /** Chain id (default 31337). */
  chainId?: number;
  /** How long to wait for it to answer `eth_chainId`, in ms (default 20_000). */
  startTimeoutMs?: number;
}

/** A running anvil. */
export interface AnvilInstance extends Omit<AnvilNode, "process"> {
  /** Raw JSON-RPC call; returns the full response object (result or error), untransformed. */
  rpc(method: string, params?: unknown[]): Promise<JsonRpcResponse>;
}

/**
 * Spawns `anvil` bound to 127.0.0.1 on a free port and resolves once it answers `eth_chainId`.
 * The process is killed by `stop()` or, at the latest, when this process exits.
 */
export async function startAnvil(opts: StartAnvilOptions = {}): Promise<AnvilInstance> {
  const node = await spawnAnvil(opts);
  return {
    url: node.url,
    wsUrl: node.wsUrl,
    port: node.port,
    chainId: node.chainId,
    pid: node.pid,
    rpc: (method, params = []) => rpc(node.url, method, params),
    output: node.output,
    stop: node.stop,
  };
}
