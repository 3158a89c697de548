import { toQuantity } from "../../util/hex.ts";
import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { hash } from "../schemas.ts";

/** eth_getBlockTransactionCountByHash: null when the block is unknown. */
export const eth_getBlockTransactionCountByHash = defineMethod({
  name: "eth_getBlockTransactionCountByHash",
  params: params(required("blockHash", hash)),
  handler: ([blockHash], { env }) => {
    const h = resolveBlock(env, { kind: "hash", hash: blockHash, requireCanonical: false });
    const b = h === undefined ? undefined : env.view.block(h);
    return b ? toQuantity(b.transactions.length) : null;
  },
});
