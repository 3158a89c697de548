import { defineMethod, params } from "../context.ts";

/** web3_clientVersion: the configured client version (chainkeep's own, not the upstream's). */
export const web3_clientVersion = defineMethod({
  name: "web3_clientVersion",
  params: params(),
  handler: (_p, { env }) => env.clientVersion,
});
