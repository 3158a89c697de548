import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { TrafficGenerator } from "../../src/demo/index.ts";
import { ChainStore, FsStore } from "../../src/store/index.ts";
import { killOnExit } from "../../src/util/children.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { freePort, rpcBatch, rpcResult, waitFor } from "../helpers/net.ts";

const BIN = fileURLToPath(new URL("../../bin/chainkeep.js", import.meta.url));

function run(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "ignore", "ignore"] });
  killOnExit(child);
  return child;
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("kill -9 of the writer and the reader during a busy chain", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: ChildProcess;
  let reader: ChildProcess;
  let rpcUrl: string;
  let head: number;
  const abort = new AbortController();
  const logger = silentLogger();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-crash-"));
    anvil = await startAnvil();
    const gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    await gen.deploy();
    const traffic = gen.run({ intervalMs: 20, signal: abort.signal });
    const port = await freePort();
    rpcUrl = `http://127.0.0.1:${port}/`;
    const store = join(dir, "store");
    const writerArgs = [
      "writer",
      "--upstream",
      anvil.wsUrl,
      "--store",
      store,
      "--poll-interval",
      "100",
      "--cross-check",
      "always",
    ];
    const readerArgs = [
      "reader",
      "--store",
      store,
      "--data-dir",
      join(dir, "r"),
      "--rpc-port",
      String(port),
      "--poll-interval",
      "100",
      // State at every height is compared with the upstream's.
      "--history",
      "archive",
    ];
    writer = run(writerArgs);
    reader = run(readerArgs);
    // Kill each one several times at random moments while blocks keep coming.
    for (let i = 0; i < 4; i++) {
      await sleep(400 + Math.floor(Math.random() * 900));
      await killHard(writer);
      writer = run(writerArgs);
      await sleep(200 + Math.floor(Math.random() * 900));
      await killHard(reader);
      reader = run(readerArgs);
    }
    abort.abort();
    await traffic;
    await gen.settle();
    head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    await waitFor(
      async () => Number(await rpcResult<string>(rpcUrl, "eth_blockNumber").catch(() => "-1")) === head,
      { timeoutMs: 60_000, intervalMs: 100, what: "reader to reach the upstream head" },
    );
  });

  after(async () => {
    abort.abort();
    if (writer) await killHard(writer);
    if (reader) await killHard(reader);
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("the store has exactly one committed, verifiable block at every height", async () => {
    const chain = new ChainStore(new FsStore({ dir: join(dir, "store") }), "primary", anvil.chainId);
    assert.ok(head > 20, `a busy chain (${head} blocks)`);
    const heads = await chain.listHeads(0, 100_000);
    assert.deepEqual(
      heads.map((h) => h.height),
      Array.from({ length: head + 1 }, (_, i) => i),
      "no height skipped, none written twice",
    );
    for (const ref of heads) await chain.readBundle(await chain.readHead(ref));
  });

  test("after restarts the reader answers exactly as the upstream", async () => {
    const calls: { method: string; params: unknown[] }[] = [];
    for (let h = 0; h <= head; h++)
      calls.push({ method: "eth_getBlockByNumber", params: [`0x${h.toString(16)}`, true] });
    for (let h = 0; h <= head; h++)
      calls.push({ method: "eth_getBlockReceipts", params: [`0x${h.toString(16)}`] });
    for (const a of [
      "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
      "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    ]) {
      for (let h = 0; h <= head; h += 3)
        calls.push({ method: "eth_getBalance", params: [a, `0x${h.toString(16)}`] });
    }
    for (let at = 0; at < calls.length; at += 500) {
      const chunk = calls.slice(at, at + 500);
      const [ours, theirs] = await Promise.all([rpcBatch(rpcUrl, chunk), rpcBatch(anvil.url, chunk)]);
      for (let i = 0; i < chunk.length; i++) {
        assert.ok(
          ours[i]?.result !== undefined,
          `${chunk[i]?.method} answered ${JSON.stringify(ours[i]?.error)}`,
        );
        assert.deepEqual(
          ours[i]?.result,
          theirs[i]?.result,
          `${chunk[i]?.method} ${JSON.stringify(chunk[i]?.params)}`,
        );
      }
    }
  });
});
