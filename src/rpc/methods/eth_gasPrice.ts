import { toQuantity } from "../../util/hex.ts";
import { requireTip } from "../block.ts";
import { defineMethod, params } from "../context.ts";

/**
 * eth_gasPrice as anvil computes it: the next block's base fee plus the suggested tip. Before
 * London (no base fee) the answer is the upstream's configured price, so it is forwarded.
 */
export const eth_gasPrice = defineMethod({
  name: "eth_gasPrice",
  params: params(),
  handler: (_p, ctx) => {
    const { env } = ctx;
    const head = env.fees.headFees(requireTip(env.view));
    if (!head?.london) return ctx.forward();
    return toQuantity(head.nextBaseFee + head.suggestedTip);
  },
});
