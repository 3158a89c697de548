/**
 * `chainkeep demo` (what `npm start` runs) as a user starts it: anvil, traffic, a writer, two
 * readers and an archiver come up; the readers answer JSON-RPC at anvil's heights, the archiver's
 * durable height climbs, and Ctrl-C (SIGTERM) stops everything with exit code 0.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runChainkeep, spawnChainkeep } from "../helpers/cluster.ts";
import { freePort, rpcResult, waitFor } from "../helpers/net.ts";

test("the demo runs a writer, two readers and an archiver, and stops cleanly", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ck-demo-"));
  // Three consecutive ports: two readers and the archiver (the two above a free one are free in practice).
  const port = await freePort();
  const demo = spawnChainkeep("demo", [
    "demo",
    "--rpc-port",
    String(port),
    "--block-time",
    "1",
    "--dir",
    dir,
  ]);
  try {
    const reader = `http://127.0.0.1:${port}/`;
    const archiver = `http://127.0.0.1:${port + 2}/`;
    await waitFor(
      async () => Number(await rpcResult<string>(reader, "eth_blockNumber").catch(() => "0x0")) >= 4,
      { timeoutMs: 90_000, what: "reader-1 at height 4" },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${demo.output()}`);
    });
    await waitFor(
      async () => {
        const res = await fetch(`${archiver}status`).catch(() => undefined);
        const s = res?.ok ? ((await res.json()) as { chains: { durableHeight: number }[] }) : undefined;
        return (s?.chains[0]?.durableHeight ?? -1) >= 4;
      },
      { timeoutMs: 60_000, what: "the archiver durable at 4" },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${demo.output()}`);
    });
    assert.match(demo.output(), /archiver/);
    assert.ok(
      Number(await rpcResult<string>(`http://127.0.0.1:${port + 1}/`, "eth_blockNumber")) >= 1,
      "reader-2",
    );
  } finally {
    await demo.stop();
    await rm(dir, { recursive: true, force: true });
  }
  assert.match(demo.output(), /exited: code 0/, demo.output());
});

test("the multi-chain demo runs an archiver of every chain from the cluster file (--node archiver-1)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ck-demo-multi-"));
  const port = await freePort();
  const demo = spawnChainkeep("demo", [
    "demo",
    "--chains",
    "2",
    "--rpc-port",
    String(port),
    "--block-time",
    "1",
    "--dir",
    dir,
  ]);
  try {
    // Readers on port, port + 1; the archiver's chains on port + 2, port + 3 (one process).
    for (const i of [0, 1]) {
      await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${port + 2 + i}/status`).catch(() => undefined);
          const s = res?.ok ? ((await res.json()) as { chains: { durableHeight: number }[] }) : undefined;
          return s?.chains.length === 2 && s.chains.every((c) => c.durableHeight >= 3);
        },
        { timeoutMs: 90_000, what: `the archiver's chain ${i} durable at 3` },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${demo.output()}`);
      });
      const chainId = await rpcResult<string>(`http://127.0.0.1:${port + 2 + i}/`, "eth_chainId");
      assert.equal(chainId, await rpcResult<string>(`http://127.0.0.1:${port + i}/`, "eth_chainId"));
    }
    const check = await runChainkeep("config-check", ["config", "check", join(dir, "cluster.yaml")]);
    assert.ok(check.ok, check.output);
  } finally {
    await demo.stop();
    await rm(dir, { recursive: true, force: true });
  }
  assert.match(demo.output(), /exited: code 0/, demo.output());
});
