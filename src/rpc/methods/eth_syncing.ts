import { toQuantity } from "../../util/hex.ts";
import { defineMethod, params } from "../context.ts";
import { notLive } from "../sync.ts";

/**
 * eth_syncing: false once LIVE (serving); otherwise startingBlock / currentBlock / highestBlock,
 * plus the staged sync's `stage`, its progress in words and, while it retries, its last error.
 */
export const eth_syncing = defineMethod({
  name: "eth_syncing",
  params: params(),
  handler: (_p, { env }) => {
    const sync = notLive(env.view);
    if (sync) {
      return {
        startingBlock: toQuantity(sync.startingBlock),
        currentBlock: toQuantity(sync.currentBlock),
        highestBlock: toQuantity(sync.highestBlock),
        stage: sync.stage,
        detail: sync.detail,
        ...(sync.lastError ? { lastError: sync.lastError } : {}),
      };
    }
    if (env.view.tip()) return false;
    const s = env.syncStatus() ?? { startingBlock: 0, currentBlock: 0, highestBlock: 0 };
    return {
      startingBlock: toQuantity(s.startingBlock),
      currentBlock: toQuantity(s.currentBlock),
      highestBlock: toQuantity(s.highestBlock),
    };
  },
});
