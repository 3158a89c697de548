/**
 * Runs a local anvil node as a child process: the demo cluster's upstream, and the upstream of
 * every test that needs a real node (`test/helpers/anvil.ts` wraps this).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { UpstreamError } from "../upstream/index.ts";
import { killOnExit } from "../util/children.ts";
import { sleep } from "../util/clock.ts";
import { isErrorCode } from "../util/errors.ts";
import { freePort } from "../util/net.ts";

/** Options of a local anvil node. */
export interface AnvilOptions {
  /**
   * TCP port. Default: a free port chosen by the OS; when another process takes it between the
   * choice and anvil's bind, a new one is chosen (up to 3 attempts). A given port is not retried.
   */
  port?: number;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Seconds between blocks (`--block-time`); 0 or undefined = automine, one block per transaction. */
  blockTime?: number;
  /** Chain id (default 31337, anvil's own default). */
  chainId?: number;
  /** Extra command-line arguments (e.g. `["--hardfork", "cancun"]`). */
  args?: string[];
  /** How long to wait for it to answer `eth_chainId`, in ms (default 20_000). */
  startTimeoutMs?: number;
}

/** A running anvil. */
export interface AnvilNode {
  /** HTTP JSON-RPC URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** WebSocket URL on the same port. */
  wsUrl: string;
  port: number;
  chainId: number;
  pid: number;
  process: ChildProcess;
  /** The last output anvil printed (stdout and stderr, up to 8 KiB), for failure messages. */
  output(): string;
  /** Stops anvil (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Path of the anvil binary shipped by the `@foundry-rs/anvil-linux-amd64` npm package. */
export function anvilBinary(): string {
  const req = createRequire(import.meta.url);
  return join(dirname(req.resolve("@foundry-rs/anvil-linux-amd64/package.json")), "bin", "anvil");
}

/**
 * Starts anvil and resolves once it printed "Listening on" and answers `eth_chainId`. The process
 * is killed by `stop()` or, at the latest, when this process exits. Throws a `ChainkeepError`
 * with code `UPSTREAM_RPC` when anvil does not start.
 */
export async function spawnAnvil(opts: AnvilOptions = {}): Promise<AnvilNode> {
  if (opts.port !== undefined) return startOnce(opts, opts.port);
  // freePort() then bind is racy when many processes start nodes at once; retry on a lost race.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts, await freePort());
    } catch (err) {
      lastErr = err;
      if (!(isErrorCode(err, "UPSTREAM_RPC") && err.meta.portInUse === true)) throw err;
    }
  }
  throw lastErr;
}

async function startOnce(opts: AnvilOptions, port: number): Promise<AnvilNode> {
  const host = opts.host ?? "127.0.0.1";
  const chainId = opts.chainId ?? 31337;
  const args = ["--host", host, "--port", String(port), "--chain-id", String(chainId)];
  if (opts.blockTime) args.push("--block-time", String(opts.blockTime));
  args.push(...(opts.args ?? []));

  const bin = anvilBinary();
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  killOnExit(child);
  // Always drain the pipes (a full pipe would stall anvil); keep only a tail for diagnostics.
  let tail = "";
  let listening = false;
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-8192);
    listening ||= tail.includes("Listening on");
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      hasExited = true;
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });

  const stop = async () => {
    if (hasExited || child.pid === undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };

  const url = `http://${host}:${port}`;
  const fail = (message: string, meta: Record<string, unknown> = {}) =>
    new UpstreamError("UPSTREAM_RPC", `${message}: ${tail.trim().slice(-1000)}`, { port, ...meta });
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  // Another process may hold the port (and even answer JSON-RPC), so wait for anvil's own
  // "Listening on" line too, unless --silent suppresses it.
  const silent = args.includes("--silent");
  for (;;) {
    if (spawnError) throw new UpstreamError("UPSTREAM_RPC", `cannot run ${bin}: ${spawnError.message}`);
    if (hasExited)
      throw fail(`anvil exited during startup (port ${port})`, { portInUse: tail.includes("in use") });
    if ((silent || listening) && (await answersChainId(url)) && !hasExited) break;
    if (Date.now() > deadline) {
      await stop();
      throw fail(`anvil did not answer on ${url}`);
    }
    await sleep(50);
  }

  return {
    url,
    wsUrl: `ws://${host}:${port}`,
    port,
    chainId,
    pid: child.pid as number,
    process: child,
    output: () => tail,
    stop,
  };
}

async function answersChainId(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(2000),
    });
    const body = (await res.json()) as { result?: unknown };
    return body.result !== undefined;
  } catch {
    return false;
  }
}
