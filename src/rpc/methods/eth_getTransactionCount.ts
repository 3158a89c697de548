import { resolveStateHeight } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { address, blockId } from "../schemas.ts";
import { accountAt, canonicalQuantity } from "../state.ts";

/** eth_getTransactionCount: the nonce after a block (`pending` is `latest`: a mirror has no pool). */
export const eth_getTransactionCount = defineMethod({
  name: "eth_getTransactionCount",
  params: params(required("address", address), required("block", blockId)),
  handler: ([addr, block], { env }) => {
    const a = accountAt(env, addr, resolveStateHeight(env, block));
    return a ? canonicalQuantity(a.nonce) : "0x0";
  },
});
