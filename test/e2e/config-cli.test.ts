/**
 * The precedence of settings through the real CLI (commander): flag, then CHAINKEEP_* environment
 * variable, then the configuration file, then the default. A reader process is started with a
 * configuration file and each layer in turn; the port it listens on tells which one won.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { type ChainkeepProcess, spawnChainkeep } from "../helpers/cluster.ts";
import { freePort, waitFor } from "../helpers/net.ts";

/** True once something answers HTTP on `port` (a reader answers /health, 503 before any block). */
async function listening(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

describe("CLI settings: flag > env > file > default", () => {
  let dir: string;
  let file: string;
  let ports: number[];
  const procs: ChainkeepProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-cli-"));
    ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    file = join(dir, "cluster.yaml");
    await writeFile(
      file,
      stringify({
        store: { type: "fs", dir: "store" },
        chains: [
          { chainId: 4242, name: "a", upstream: "http://127.0.0.1:9" },
          { chainId: 4243, name: "b", upstream: "http://127.0.0.1:9" },
        ],
        nodes: [
          {
            name: "one",
            role: "reader",
            workers: 1,
            chains: [{ chain: "a", rpcPort: ports[0], dataDir: "one" }],
          },
          {
            name: "two",
            role: "reader",
            workers: 1,
            chains: [
              { chain: "a", rpcPort: ports[1], dataDir: "two/a" },
              { chain: "b", rpcPort: ports[2], dataDir: "two/b" },
            ],
          },
        ],
      }),
    );
  });

  after(async () => {
    for (const p of procs) await p.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function runUntilListening(args: string[], env: Record<string, string>, port: number): Promise<void> {
    const p = spawnChainkeep("reader", ["reader", "--config", file, ...args], env);
    procs.push(p);
    await waitFor(async () => (await listening(port)) || p.exited(), {
      timeoutMs: 30_000,
      what: `port ${port}`,
    });
    assert.ok(!p.exited(), p.output());
    await p.stop();
    await waitFor(async () => !(await listening(port)), { timeoutMs: 10_000, what: `port ${port} closed` });
  }

  test("the file's port, then the environment's, then the flag's", async () => {
    const [fromFile, , , other] = ports as [number, number, number, number];
    await runUntilListening(["--node", "one"], {}, fromFile);
    await runUntilListening(["--node", "one"], { CHAINKEEP_RPC_PORT: String(other) }, other);
    assert.equal(await listening(fromFile), false);
    const flag = await freePort();
    await runUntilListening(
      ["--node", "one", "--rpc-port", String(flag)],
      { CHAINKEEP_RPC_PORT: String(other) },
      flag,
    );
    // The node from the environment too.
    await runUntilListening([], { CHAINKEEP_NODE: "one" }, fromFile);
  });

  test("one process serves every chain of a node, each on its port", async () => {
    const p = spawnChainkeep("reader", ["reader", "--config", file, "--node", "two"]);
    procs.push(p);
    await waitFor(
      async () => (await listening(ports[1] as number)) && (await listening(ports[2] as number)),
      {
        timeoutMs: 30_000,
        what: "both ports",
      },
    );
    await p.stop();
  });

  test("mistakes are reported with the key or the flag, exit code 1", async () => {
    const p = spawnChainkeep("reader", ["reader", "--config", file, "--node", "two", "--rpc-port", "1"]);
    procs.push(p);
    await waitFor(async () => p.exited(), { timeoutMs: 20_000, what: "exit" });
    assert.match(p.output(), /rpcPort names one chain, but node two serves 2/);
    assert.match(p.output(), /exited: code 1/);
    const q = spawnChainkeep("reader", ["reader", "--config", file]);
    procs.push(q);
    await waitFor(async () => q.exited(), { timeoutMs: 20_000, what: "exit" });
    assert.match(q.output(), /2 reader nodes: say which with --node/);
    const r = spawnChainkeep("writer", ["writer", "--store", join(dir, "s")]);
    procs.push(r);
    await waitFor(async () => r.exited(), { timeoutMs: 20_000, what: "exit" });
    assert.match(
      r.output(),
      /--upstream is required: pass it, set CHAINKEEP_UPSTREAM, or give it in the configuration file/,
    );
  });
});
