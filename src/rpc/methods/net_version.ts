import { defineMethod, params } from "../context.ts";

/** net_version: the chain id as a decimal string. */
export const net_version = defineMethod({
  name: "net_version",
  params: params(),
  handler: (_p, { env }) => String(env.chainId),
});
