import { z } from "zod";
import { defineMethod, params, required } from "../context.ts";
import { RpcError } from "../errors.ts";

/**
 * chainkeep_switchPrefix (admin): makes the reader follow another writer line (a standby writer's
 * prefix). The reader resets to `applied − 2·reorgMax` and applies from the new line only once its
 * block at that height is the one held. Answers `{prefix, height}` (the reset height) once reset,
 * or null when the reader already follows that prefix.
 */
export const chainkeep_switchPrefix = defineMethod({
  name: "chainkeep_switchPrefix",
  admin: true,
  params: params(required("prefix", z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be a prefix name"))),
  handler: async ([prefix], { env }) => {
    if (!env.admin) throw new RpcError("RPC_METHOD_NOT_FOUND", "admin actions are not available");
    return (await env.admin.switchPrefix(prefix)) ?? null;
  },
});
