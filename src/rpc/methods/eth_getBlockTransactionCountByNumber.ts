import { toQuantity } from "../../util/hex.ts";
import { heightOf, outOfRange, requireTip, resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { blockNumberOrTag } from "../schemas.ts";

/** eth_getBlockTransactionCountByNumber; a number above the tip is the upstream's out-of-range error. */
export const eth_getBlockTransactionCountByNumber = defineMethod({
  name: "eth_getBlockTransactionCountByNumber",
  params: params(required("block", blockNumberOrTag)),
  handler: ([block], { env }) => {
    const tip = requireTip(env.view);
    const requested = heightOf(tip, block);
    if (requested > tip.height) throw outOfRange(tip.height, requested);
    const h = resolveBlock(env, block);
    const b = h === undefined ? undefined : env.view.block(h);
    return b ? toQuantity(b.transactions.length) : null;
  },
});
