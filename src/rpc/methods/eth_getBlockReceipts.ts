import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { blockId } from "../schemas.ts";

/** eth_getBlockReceipts: all receipts of a block (number, tag, hash or EIP-1898); null when unknown. */
export const eth_getBlockReceipts = defineMethod({
  name: "eth_getBlockReceipts",
  params: params(required("block", blockId)),
  handler: ([block], { env }) => {
    const h = resolveBlock(env, block);
    return h === undefined ? null : (env.view.blockReceiptsJson(h) ?? null);
  },
});
