import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { blockNumberOrTag, txIndex } from "../schemas.ts";

/** eth_getTransactionByBlockNumberAndIndex: null for an unknown block or index. */
export const eth_getTransactionByBlockNumberAndIndex = defineMethod({
  name: "eth_getTransactionByBlockNumberAndIndex",
  params: params(required("block", blockNumberOrTag), required("index", txIndex)),
  handler: ([block, index], { env }) => {
    const h = resolveBlock(env, block);
    return h === undefined ? null : (env.view.txJson(h, index) ?? null);
  },
});
