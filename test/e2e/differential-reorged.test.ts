/**
 * The differential suite on a chain that was reorganised under the mirror: after the varied chain
 * is mirrored, anvil_reorg replaces its last blocks twice in quick succession (new transactions in
 * the replacement blocks, one of them removing contract traffic), and every served method must
 * then answer exactly as anvil at every height.
 */
import { startCluster } from "../helpers/cluster.ts";
import { differentialSuite } from "../helpers/differential.ts";
import { rpcResult } from "../helpers/net.ts";

const ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const BOB = "0x70997970c51812dc3a010c7d5afa0b5cef5b23b8";
const q = (n: number) => `0x${n.toString(16)}`;

differentialSuite("differential after reorgs: a chainkeep reader answers exactly as anvil", async () => {
  const c = await startCluster();
  return {
    ...c,
    alive: () => !c.writer.exited() && !c.reader.exited(),
    async afterChain() {
      const head = Number(await rpcResult<string>(c.anvil.url, "eth_blockNumber"));
      // The mirror holds the chain before it changes under it.
      await c.waitSynced(60_000);
      const tx = (n: number) => ({ from: ALICE, to: BOB, value: q(7000 + n) });
      await c.anvil.rpc("anvil_reorg", [
        5,
        [
          [tx(1), 0],
          [tx(2), 0],
          [tx(3), 3],
        ],
      ]);
      await c.anvil.rpc("anvil_reorg", [2, [[tx(4), 1]]]);
      // anvil_reorg leaves anvil's clock offset behind the wall clock (its pending block then
      // takes an earlier timestamp, which no mirror can see); the next block sets it back.
      const latest = await rpcResult<{ timestamp: string }>(c.anvil.url, "eth_getBlockByNumber", [
        "latest",
        false,
      ]);
      const now = Math.floor(Date.now() / 1000);
      await c.anvil.rpc("evm_setNextBlockTimestamp", [Math.max(now, Number(latest.timestamp) + 1)]);
      await c.anvil.rpc("evm_mine", []);
      const after = Number(await rpcResult<string>(c.anvil.url, "eth_blockNumber"));
      if (after !== head + 1) throw new Error(`expected head ${head + 1} after the reorgs, got ${after}`);
    },
  };
});
