import { toQuantity } from "../../util/hex.ts";
import { requireTip } from "../block.ts";
import { defineMethod, params } from "../context.ts";

/** eth_blockNumber: the applied tip's height. */
export const eth_blockNumber = defineMethod({
  name: "eth_blockNumber",
  params: params(),
  handler: (_p, { env }) => toQuantity(requireTip(env.view).height),
});
