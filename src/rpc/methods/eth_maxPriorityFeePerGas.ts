import { toQuantity } from "../../util/hex.ts";
import { requireTip } from "../block.ts";
import { defineMethod, params } from "../context.ts";

/** eth_maxPriorityFeePerGas as anvil suggests it: the lowest tip in the latest block, at least 1 gwei. */
export const eth_maxPriorityFeePerGas = defineMethod({
  name: "eth_maxPriorityFeePerGas",
  params: params(),
  handler: (_p, { env }) => {
    const tip = requireTip(env.view);
    return toQuantity(env.fees.headFees(tip)?.suggestedTip ?? env.fees.suggestedTip(tip.height));
  },
});
