/**
 * A real chainkeep cluster on loopback for end-to-end tests: anvil, one writer and one or more
 * readers, each a separate process started through the `chainkeep` CLI (`bin/chainkeep.js`), on a
 * directory store in a temporary directory.
 */
import { spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { killOnExit } from "../../src/util/children.ts";
import { type AnvilInstance, type StartAnvilOptions, startAnvil } from "./anvil.ts";
import { freePort, type JsonRpcResponse, rpc, rpcBatch, rpcResult, waitFor } from "./net.ts";

/** The CLI entry point. */
export const CHAINKEEP_BIN = fileURLToPath(new URL("../../bin/chainkeep.js", import.meta.url));

/** A chainkeep process started by {@link spawnChainkeep}. */
export interface ChainkeepProcess {
  name: string;
  pid: number;
  /** The last 16 KiB of its stderr and stdout (pino logs go to stderr). */
  output(): string;
  /** True once it has exited. */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs `node bin/chainkeep.js <args>` with the test's Node binary; logs at `warn` unless told.
 * With `logFile`, every line it prints is appended there as well.
 */
export function spawnChainkeep(
  name: string,
  args: string[],
  env: Record<string, string> = {},
  opts: { logFile?: string } = {},
): ChainkeepProcess {
  const child = spawn(process.execPath, [CHAINKEEP_BIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CHAINKEEP_LOG_LEVEL: process.env.CHAINKEEP_LOG_LEVEL ?? "warn", ...env },
  });
  killOnExit(child);
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-16_384);
    // Everything, for tests that read a whole run's logs.
    if (opts.logFile) appendFileSync(opts.logFile, chunk);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      hasExited = true;
      tail += `\n[${name} exited: code ${code}, signal ${signal}]`;
      resolve();
    });
  });
  child.once("error", (err) => {
    tail += `\n[${name} could not start: ${err.message}]`;
  });
  return {
    name,
    pid: child.pid as number,
    output: () => tail,
    exited: () => hasExited,
    async stop() {
      if (hasExited || child.pid === undefined) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Options of the anvil started for the cluster (ignored when `anvil` is given). */
  anvilOptions?: StartAnvilOptions;
  /** An anvil already running (the cluster does not stop it). */
  anvil?: AnvilInstance;
  /** Writer `--cross-check` mode (default "always"). */
  crossCheck?: "always" | "sample" | "off";
  /** Writer and reader `--poll-interval`, in ms (default 100). */
  pollIntervalMs?: number;
  /** How long to wait for the reader to serve, in ms (default 60_000). */
  startTimeoutMs?: number;
}

/** A running cluster. */
export interface Cluster {
  anvil: AnvilInstance;
  /** Temporary directory holding `store/` and `r1/`. */
  dir: string;
  writer: ChainkeepProcess;
  reader: ChainkeepProcess;
  /** The reader's JSON-RPC URLs (HTTP and WebSocket on one port, path `/`). */
  readerUrl: string;
  readerWsUrl: string;
  /** One request to the reader; the whole response object, untransformed. */
  readerRpc(method: string, params?: unknown[]): Promise<JsonRpcResponse>;
  /** Waits until the reader's `eth_blockNumber` equals anvil's; returns that height. */
  waitSynced(timeoutMs?: number): Promise<number>;
  /** The tail of every process's output, for failure messages. */
  diagnostics(): string;
  /** Stops the processes (reader, writer, then anvil if the cluster started it) and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts anvil (unless given), then `chainkeep writer --upstream <anvil ws> --store <dir>/store
 * --cross-check always --poll-interval 100` and `chainkeep reader --store <dir>/store --data-dir
 * <dir>/r1 --rpc-port <free> --upstream <anvil http> --poll-interval 100`, and resolves once the
 * reader answers JSON-RPC (it starts serving after the writer has written the chain's meta).
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), "ck-cluster-"));
  const ownAnvil = opts.anvil === undefined;
  const anvil = opts.anvil ?? (await startAnvil(opts.anvilOptions));
  const store = join(dir, "store");
  const poll = String(opts.pollIntervalMs ?? 100);
  const writer = spawnChainkeep("writer", [
    "writer",
    "--upstream",
    anvil.wsUrl,
    "--store",
    store,
    "--cross-check",
    opts.crossCheck ?? "always",
    "--poll-interval",
    poll,
  ]);
  const procs: ChainkeepProcess[] = [writer];
  const diagnostics = () =>
    [
      `anvil ${anvil.url}`,
      ...procs.map((p) => `--- ${p.name} (pid ${p.pid}) ---\n${p.output().trim()}`),
    ].join("\n");
  const teardown = async () => {
    for (const p of [...procs].reverse()) await p.stop();
    if (ownAnvil) await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
    let reader: ChainkeepProcess | undefined;
    let port = 0;
    // The port may be taken between freePort() and the reader's bind: start again on a new one.
    for (let attempt = 0; !reader; attempt++) {
      port = await freePort();
      const r = spawnChainkeep("reader", [
        "reader",
        "--store",
        store,
        "--data-dir",
        join(dir, "r1"),
        "--rpc-port",
        String(port),
        "--upstream",
        anvil.url,
        "--poll-interval",
        poll,
        // The tests compare state at every height with the upstream's.
        "--history",
        "archive",
      ]);
      procs.push(r);
      const url = `http://127.0.0.1:${port}/`;
      for (;;) {
        if (r.exited()) {
          procs.pop();
          if (attempt < 2 && r.output().includes("EADDRINUSE")) break;
          throw new Error(
            `the reader exited during startup\n${diagnostics()}\n--- reader (pid ${r.pid}) ---\n${r.output().trim()}`,
          );
        }
        if (writer.exited()) throw new Error(`the writer exited during startup\n${diagnostics()}`);
        const res = await rpc(url, "eth_chainId").catch(() => undefined);
        if (res?.result !== undefined) {
          reader = r;
          break;
        }
        if (Date.now() > deadline) throw new Error(`the reader did not serve on ${url}\n${diagnostics()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    const readerUrl = `http://127.0.0.1:${port}/`;
    const readerRpc = (method: string, params: unknown[] = []) => rpc(readerUrl, method, params);
    return {
      anvil,
      dir,
      writer,
      reader,
      readerUrl,
      readerWsUrl: `ws://127.0.0.1:${port}/`,
      readerRpc,
      diagnostics,
      async waitSynced(timeoutMs = 30_000) {
        const until = Date.now() + timeoutMs;
        let last = "";
        for (;;) {
          const [up, down] = await Promise.all([
            anvil.rpc("eth_blockNumber"),
            readerRpc("eth_blockNumber").catch((err: Error) => ({ error: { message: err.message } })),
          ]);
          const upHeight = typeof up.result === "string" ? Number(up.result) : Number.NaN;
          const downResult = (down as JsonRpcResponse).result;
          if (typeof downResult === "string" && Number(downResult) === upHeight) return upHeight;
          last = `anvil ${up.result ?? JSON.stringify(up.error)}, reader ${downResult ?? JSON.stringify((down as JsonRpcResponse).error)}`;
          for (const p of procs)
            if (p.exited()) throw new Error(`${p.name} exited while syncing (${last})\n${diagnostics()}`);
          if (Date.now() > until)
            throw new Error(`the reader did not catch up in ${timeoutMs} ms (${last})\n${diagnostics()}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      },
      stop: teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** A reader process started by {@link spawnReader}. */
export interface ReaderProcess {
  proc: ChainkeepProcess;
  url: string;
  dataDir: string;
}

/**
 * Starts `chainkeep reader` on a free port (polling the store every 100 ms, forwarding to
 * `upstream`) and resolves once it answers `eth_chainId`; another port is tried when the chosen
 * one was taken in between. `onSpawn` sees every process started (for the caller's cleanup).
 */
export async function spawnReader(opts: {
  name: string;
  store: string;
  dataDir: string;
  upstream: string;
  args?: string[];
  env?: Record<string, string>;
  onSpawn?: (p: ChainkeepProcess) => void;
  /** Appended to the error when it does not start. */
  diagnostics?: () => string;
}): Promise<ReaderProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawnChainkeep(
      opts.name,
      [
        "reader",
        "--store",
        opts.store,
        "--data-dir",
        opts.dataDir,
        "--rpc-port",
        String(port),
        "--upstream",
        opts.upstream,
        "--poll-interval",
        "100",
        // Tests compare state at every height with the upstream.
        "--history",
        "archive",
        ...(opts.args ?? []),
      ],
      opts.env,
    );
    opts.onSpawn?.(proc);
    const url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exited()) break;
      const res = await rpc(url, "eth_chainId").catch(() => undefined);
      if (res?.result !== undefined) return { proc, url, dataDir: opts.dataDir };
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (attempt < 2 && proc.output().includes("EADDRINUSE")) continue;
    throw new Error(`${opts.name} did not start\n${opts.diagnostics?.() ?? proc.output()}`);
  }
}

/** Runs a chainkeep CLI command to its end; whether it exited with 0, and its output. */
export async function runChainkeep(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ ok: boolean; output: string }> {
  const p = spawnChainkeep(name, args, env);
  await waitFor(async () => p.exited(), { timeoutMs: 60_000, intervalMs: 50, what: `${name} exits` });
  return { ok: /exited: code 0,/.test(p.output()), output: p.output() };
}

/**
 * Waits until the reader's head is the upstream's head (same height and hash); returns that height.
 * On a timeout the error carries `diagnostics()`.
 */
export async function waitReaderAtHead(
  reader: { url: string; proc: { name: string } },
  upstreamUrl: string,
  opts: { timeoutMs?: number; diagnostics?: () => string } = {},
): Promise<number> {
  const q = (h: number) => `0x${h.toString(16)}`;
  let head = -1;
  try {
    await waitFor(
      async () => {
        head = Number(await rpcResult<string>(upstreamUrl, "eth_blockNumber"));
        const want = await rpcResult<{ hash: string }>(upstreamUrl, "eth_getBlockByNumber", [q(head), false]);
        const [tip, block] = await rpcBatch(reader.url, [
          { method: "eth_blockNumber" },
          { method: "eth_getBlockByNumber", params: [q(head), false] },
        ]);
        return tip?.result === q(head) && (block?.result as { hash: string } | null)?.hash === want.hash;
      },
      {
        timeoutMs: opts.timeoutMs ?? 90_000,
        intervalMs: 100,
        what: `${reader.proc.name} at the upstream's head`,
      },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${opts.diagnostics?.() ?? ""}`);
  }
  return head;
}
