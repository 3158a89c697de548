import { toQuantity } from "../../util/hex.ts";
import { defineMethod, params } from "../context.ts";

/** eth_chainId (EIP-695): the chain id as a QUANTITY. */
export const eth_chainId = defineMethod({
  name: "eth_chainId",
  params: params(),
  handler: (_p, { env }) => toQuantity(env.chainId),
});
