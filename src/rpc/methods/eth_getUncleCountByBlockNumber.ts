import { toQuantity } from "../../util/hex.ts";
import { ReadError } from "../../view/index.ts";
import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { blockNumberOrTag } from "../schemas.ts";

/** eth_getUncleCountByBlockNumber; an unknown block is -32001 "Resource not found", as anvil answers. */
export const eth_getUncleCountByBlockNumber = defineMethod({
  name: "eth_getUncleCountByBlockNumber",
  params: params(required("block", blockNumberOrTag)),
  handler: ([block], { env }) => {
    const h = resolveBlock(env, block);
    const b = h === undefined ? undefined : env.view.block(h);
    if (!b) throw new ReadError("BLOCK_NOT_FOUND", "no such block");
    return toQuantity(Array.isArray(b.uncles) ? b.uncles.length : 0);
  },
});
