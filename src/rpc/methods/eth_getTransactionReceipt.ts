import { notHeld, requireTip } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { hash } from "../schemas.ts";

/** eth_getTransactionReceipt: the receipt as the upstream returned it; null when unknown. */
export const eth_getTransactionReceipt = defineMethod({
  name: "eth_getTransactionReceipt",
  params: params(required("transactionHash", hash)),
  handler: ([txHash], { env }) => {
    requireTip(env.view);
    const loc = env.view.txLocation(txHash);
    if (!loc) return notHeld(env) ?? null;
    return env.view.receiptJson(loc.height, loc.index) ?? null;
  },
});
