import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { sleep } from "../util/clock.ts";
import { ChainkeepError } from "../util/errors.ts";

/** Options of a local anvil node. */
export interface AnvilOptions {
  /** TCP port (0 is not allowed: anvil prints no port). */
  port: number;
  host?: string;
  /** Seconds between blocks; 0 or undefined = a block per transaction. */
  blockTime?: number;
  chainId?: number;
  /** Extra command-line arguments. */
  args?: string[];
  /** How long to wait for it to answer, in ms (default 15000). */
  startTimeoutMs?: number;
}

/** A running anvil. */
export interface AnvilNode {
  url: string;
  wsUrl: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Path of the anvil binary shipped by the `@foundry-rs/anvil-linux-amd64` npm package. */
export function anvilBinary(): string {
  const req = createRequire(import.meta.url);
  return join(dirname(req.resolve("@foundry-rs/anvil-linux-amd64/package.json")), "bin", "anvil");
}

/** Starts anvil on loopback and resolves once it answers `eth_chainId`. */
export async function spawnAnvil(opts: AnvilOptions): Promise<AnvilNode> {
  const host = opts.host ?? "127.0.0.1";
  const args = ["--host", host, "--port", String(opts.port), "--silent"];
  if (opts.blockTime) args.push("--block-time", String(opts.blockTime));
  if (opts.chainId !== undefined) args.push("--chain-id", String(opts.chainId));
  args.push(...(opts.args ?? []));
  const child = spawn(anvilBinary(), args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const url = `http://${host}:${opts.port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  const stop = async () => {
    process.off("exit", kill);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (res.ok) return { url, wsUrl: `ws://${host}:${opts.port}`, port: opts.port, process: child, stop };
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  await stop();
  throw new ChainkeepError("UPSTREAM_RPC", `anvil did not start on ${url}: ${stderr.trim()}`, {
    port: opts.port,
  });
}
