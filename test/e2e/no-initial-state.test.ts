import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MemoryBus } from "../../src/bus/index.ts";
import { TrafficGenerator } from "../../src/demo/index.ts";
import { type RunningReader, type RunningWriter, startReader, startWriter } from "../../src/node/index.ts";
import { FsStore } from "../../src/store/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { type AnvilInstance, startAnvil } from "../helpers/anvil.ts";
import { rpc, rpcResult } from "../helpers/net.ts";

// Anvil's dev account 9 never sends or receives in the traffic: its state is never in a diff.
const UNTOUCHED = "0xa0ee7a142d267c1f36714e4a8f75612f20a79720";

describe("a writer that cannot capture the initial state", () => {
  let anvil: AnvilInstance;
  let dir: string;
  let writer: RunningWriter;
  let reader: RunningReader;
  let url: string;
  const logger = silentLogger();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-noinit-"));
    anvil = await startAnvil();
    const gen = new TrafficGenerator({ rpcUrl: anvil.url, chainId: anvil.chainId }, { logger });
    await gen.deploy();
    await gen.round();
    await gen.settle();
    const store = new FsStore({ dir: join(dir, "store") });
    const bus = new MemoryBus();
    writer = await startWriter(
      { upstream: [anvil.url], store: "", prefix: "primary", pollInterval: 100, initialState: "none" },
      { logger, store, bus },
    );
    reader = await startReader(
      {
        store: "",
        dataDir: join(dir, "r"),
        rpcPort: 0,
        upstream: anvil.url,
        prefix: "primary",
        pollInterval: 100,
      },
      { logger, store, bus },
    );
    url = `http://127.0.0.1:${reader.port}/`;
    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    await reader.replicator.waitFor(head, 30_000);
  });

  after(async () => {
    await reader?.close();
    await writer?.close();
    await anvil?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("the reader says so in its status", () => {
    assert.equal(reader.replicator.status().hasInitialState, false);
    assert.equal(reader.db.hasInitialState(), false);
  });

  test("state never touched since is forwarded to the upstream, never answered as zero", async () => {
    const before = await rpc(anvil.url, "eth_getBalance", [UNTOUCHED, "latest"]);
    assert.notEqual(BigInt(before.result as string), 0n, "the untouched account is funded");
    for (const [method, params] of [
      ["eth_getBalance", [UNTOUCHED, "latest"]],
      ["eth_getTransactionCount", [UNTOUCHED, "0x1"]],
      ["eth_getCode", [UNTOUCHED, "latest"]],
    ] as const) {
      const ours = await rpc(url, method, [...params]);
      const theirs = await rpc(anvil.url, method, [...params]);
      assert.deepEqual(ours.result, theirs.result, method);
    }
    assert.equal(reader.db.account(UNTOUCHED, 1), undefined, "unknown locally");
  });

  test("state the diffs did touch is answered locally and equals the upstream", async () => {
    const sender = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    const head = await rpcResult<string>(anvil.url, "eth_blockNumber");
    const local = reader.db.account(sender, Number(head));
    assert.ok(local, "held locally");
    assert.equal(
      BigInt(local.balance),
      BigInt(await rpcResult<string>(url, "eth_getBalance", [sender, head])),
    );
    assert.equal(
      await rpcResult<string>(url, "eth_getBalance", [sender, head]),
      await rpcResult<string>(anvil.url, "eth_getBalance", [sender, head]),
    );
  });
});
