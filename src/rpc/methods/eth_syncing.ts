import { toQuantity } from "../../util/hex.ts";
import { defineMethod, params } from "../context.ts";

/** eth_syncing: false once a block is applied (serving); otherwise the sync progress. */
export const eth_syncing = defineMethod({
  name: "eth_syncing",
  params: params(),
  handler: (_p, { env }) => {
    if (env.view.tip()) return false;
    const s = env.syncStatus() ?? { startingBlock: 0, currentBlock: 0, highestBlock: 0 };
    return {
      startingBlock: toQuantity(s.startingBlock),
      currentBlock: toQuantity(s.currentBlock),
      highestBlock: toQuantity(s.highestBlock),
    };
  },
});
