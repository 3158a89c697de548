import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { bool, hash } from "../schemas.ts";

/** eth_getBlockByHash: the block with full transactions or hashes; null when unknown. */
export const eth_getBlockByHash = defineMethod({
  name: "eth_getBlockByHash",
  params: params(required("blockHash", hash), required("fullTransactions", bool)),
  handler: ([blockHash, full], { env }) => {
    const h = resolveBlock(env, { kind: "hash", hash: blockHash, requireCanonical: false });
    return h === undefined ? null : (env.view.blockJson(h, full) ?? null);
  },
});
