/** Starts real anvil nodes for tests, on loopback ports chosen by the OS. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort, type JsonRpcResponse, rpc } from "./net.ts";

/** Path of the anvil binary installed by `@foundry-rs/anvil-linux-amd64`. */
export const ANVIL_BIN = fileURLToPath(new URL("../../node_modules/.bin/anvil", import.meta.url));

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
export interface AnvilInstance {
  /** HTTP JSON-RPC URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** WebSocket URL on the same port. */
  wsUrl: string;
  port: number;
  chainId: number;
  pid: number;
  /** Raw JSON-RPC call; returns the full response object (result or error), untransformed. */
  rpc(method: string, params?: unknown[]): Promise<JsonRpcResponse>;
  /** The last lines anvil printed, for failure messages. */
  output(): string;
  /** Kills anvil and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous on purpose: 'exit' handlers cannot await.
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

/**
 * Spawns `anvil` bound to 127.0.0.1 on a free port and resolves once it answers `eth_chainId`.
 * The process is killed by `stop()` or, at the latest, when this process exits.
 */
export async function startAnvil(opts: StartAnvilOptions = {}): Promise<AnvilInstance> {
  // freePort() then bind is racy when many tests start nodes at once; retry on a lost race.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts, await freePort());
    } catch (err) {
      lastErr = err;
      if (!String((err as Error).message).includes("in use")) throw err;
    }
  }
  throw lastErr;
}

async function startOnce(opts: StartAnvilOptions, port: number): Promise<AnvilInstance> {
  installExitHook();
  const chainId = opts.chainId ?? 31337;
  const args = ["--host", "127.0.0.1", "--port", String(port), "--chain-id", String(chainId)];
  if (opts.blockTime) args.push("--block-time", String(opts.blockTime));
  args.push(...(opts.args ?? []));

  const child = spawn(ANVIL_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  // Always drain the pipes (a full pipe would stall anvil); keep only a tail for diagnostics.
  let tail = "";
  let listening = false;
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-8192);
    listening ||= tail.includes("Listening on");
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      running.delete(child);
      resolve();
    });
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });

  const stop = async () => {
    if (!hasExited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  // Another process may hold the port (and even answer JSON-RPC), so wait for anvil's own
  // "Listening on" line too, unless --silent suppresses it.
  const silent = args.includes("--silent");
  for (;;) {
    if (spawnError) throw new Error(`cannot run ${ANVIL_BIN}: ${spawnError.message}`);
    if (hasExited) throw new Error(`anvil exited during startup (port ${port}): ${tail.trim()}`);
    if (silent || listening) {
      const res = await rpc(url, "eth_chainId").catch(() => undefined);
      if (res?.result !== undefined && !hasExited) break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`anvil did not answer on port ${port}: ${tail.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    chainId,
    pid: child.pid as number,
    rpc: (method, params = []) => rpc(url, method, params),
    output: () => tail,
    stop,
  };
}
