import { notHeld, requireTip } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { hash } from "../schemas.ts";

/** eth_getTransactionByHash: the transaction as the upstream returned it; null when unknown. */
export const eth_getTransactionByHash = defineMethod({
  name: "eth_getTransactionByHash",
  params: params(required("transactionHash", hash)),
  handler: ([txHash], { env }) => {
    requireTip(env.view);
    const loc = env.view.txLocation(txHash);
    if (!loc) return notHeld(env) ?? null;
    return env.view.txJson(loc.height, loc.index) ?? null;
  },
});
