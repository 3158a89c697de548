import { defineMethod, params } from "../context.ts";
import { RpcError } from "../errors.ts";

/**
 * chainkeep_readerStatus (admin): the replicator's status — applied height, the writer's tip,
 * the prefix followed, a switch waiting for verification or refused, counters of applied and
 * refused blocks, reorgs and backtracks.
 */
export const chainkeep_readerStatus = defineMethod({
  name: "chainkeep_readerStatus",
  admin: true,
  params: params(),
  handler: (_p, { env }) => {
    if (!env.admin) throw new RpcError("RPC_METHOD_NOT_FOUND", "admin actions are not available");
    return env.admin.status();
  },
});
