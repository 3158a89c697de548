/**
 * Three chains (a beacon and two shards, distinct chain ids) mirrored through S3 (s3rver) and NATS
 * JetStream, configured by one YAML file: a writer process per chain and ONE reader process
 * serving all three, each on its own port. The differential suite runs against every chain.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { type HeadNotice, NatsBus } from "../../src/bus/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { differentialSuite } from "../helpers/differential.ts";
import { type MultiChainCluster, startMultiChainCluster } from "../helpers/multichain.ts";
import { waitFor } from "../helpers/net.ts";

let cluster: Promise<MultiChainCluster> | undefined;
const started = () => {
  cluster ??= startMultiChainCluster({ chains: 3 });
  return cluster;
};

after(async () => {
  await (await cluster?.catch(() => undefined))?.stop();
});

for (const [i, name] of ["beacon", "shard-1", "shard-2"].entries()) {
  differentialSuite(
    `S3 + NATS, one reader for three chains: ${name} answers exactly as its anvil`,
    async () => (await started()).target(i),
  );
}

describe("S3 + NATS: the blocks went through the S3 API and the notices through JetStream", () => {
  test("each chain's head records were PUT to s3rver, and each writer publishes notices on NATS", async () => {
    const c = await started();
    for (const id of c.chainIds) {
      const heads = c.s3.requests.filter(
        (r) => r.method === "PUT" && r.url.startsWith(`/${c.s3.bucket}/test/primary/${id}/heads/`),
      );
      assert.ok(heads.length > 40, `chain ${id}: ${heads.length} head records PUT`);
    }
    const bus = new NatsBus({ servers: c.nats.url, stream: "chainkeep-test" }, { logger: silentLogger() });
    try {
      const got = new Map<number, HeadNotice>();
      for (const id of c.chainIds) bus.subscribe(id, (n) => got.set(n.chainId, n));
      assert.ok(await bus.ready(15_000), "connected to NATS");
      for (const a of c.anvils) await a.rpc("evm_mine");
      await waitFor(async () => got.size === c.chainIds.length, {
        timeoutMs: 30_000,
        what: "a notice per chain",
      });
      for (const [i, id] of c.chainIds.entries()) {
        const n = got.get(id) as HeadNotice;
        const head = await c.waitSynced(i, 30_000);
        assert.ok(n.height <= head && n.prefix === "primary", JSON.stringify(n));
      }
    } finally {
      await bus.close();
    }
    assert.ok(c.alive(), c.diagnostics());
  });
});
