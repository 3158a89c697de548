import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { hash, txIndex } from "../schemas.ts";

/** eth_getTransactionByBlockHashAndIndex: null for an unknown block or index. */
export const eth_getTransactionByBlockHashAndIndex = defineMethod({
  name: "eth_getTransactionByBlockHashAndIndex",
  params: params(required("blockHash", hash), required("index", txIndex)),
  handler: ([blockHash, index], { env }) => {
    const h = resolveBlock(env, { kind: "hash", hash: blockHash, requireCanonical: false });
    return h === undefined ? null : (env.view.txJson(h, index) ?? null);
  },
});
