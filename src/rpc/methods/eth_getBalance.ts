import { resolveStateHeight } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { address, blockId } from "../schemas.ts";
import { accountAt, canonicalQuantity } from "../state.ts";

/** eth_getBalance: the balance after a block (EIP-1898 block parameter). */
export const eth_getBalance = defineMethod({
  name: "eth_getBalance",
  params: params(required("address", address), required("block", blockId)),
  handler: ([addr, block], { env }) => {
    const a = accountAt(env, addr, resolveStateHeight(env, block));
    return a ? canonicalQuantity(a.balance) : "0x0";
  },
});
