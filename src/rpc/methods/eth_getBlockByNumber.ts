import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { blockNumberOrTag, bool } from "../schemas.ts";

/** eth_getBlockByNumber: the block with full transactions or hashes; null above the tip. */
export const eth_getBlockByNumber = defineMethod({
  name: "eth_getBlockByNumber",
  params: params(required("block", blockNumberOrTag), required("fullTransactions", bool)),
  handler: ([block, full], { env }) => {
    const h = resolveBlock(env, block);
    return h === undefined ? null : (env.view.blockJson(h, full) ?? null);
  },
});
