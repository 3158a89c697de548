/**
 * Three chains (a beacon and two shards, distinct chain ids) mirrored through S3 (s3rver) and NATS
 * JetStream, configured by one YAML file: a writer process per chain and ONE reader process
 * serving all three, each on its own port. The differential suite runs against every chain.
 */
import { after } from "node:test";
import { differentialSuite } from "../helpers/differential.ts";
import { type MultiChainCluster, startMultiChainCluster } from "../helpers/multichain.ts";

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
