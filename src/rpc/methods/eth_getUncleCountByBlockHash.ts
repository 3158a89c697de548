import { toQuantity } from "../../util/hex.ts";
import { ReadError } from "../../view/index.ts";
import { resolveBlock } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { hash } from "../schemas.ts";

/** eth_getUncleCountByBlockHash; an unknown block is -32001 "Resource not found", as anvil answers. */
export const eth_getUncleCountByBlockHash = defineMethod({
  name: "eth_getUncleCountByBlockHash",
  params: params(required("blockHash", hash)),
  handler: ([blockHash], { env }) => {
    const h = resolveBlock(env, { kind: "hash", hash: blockHash, requireCanonical: false });
    const b = h === undefined ? undefined : env.view.block(h);
    if (!b) throw new ReadError("BLOCK_NOT_FOUND", "no such block", { hash: blockHash });
    return toQuantity(Array.isArray(b.uncles) ? b.uncles.length : 0);
  },
});
