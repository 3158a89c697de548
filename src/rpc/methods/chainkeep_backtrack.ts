import { z } from "zod";
import { defineMethod, params, required } from "../context.ts";
import { RpcError } from "../errors.ts";

/** A block height: a hex quantity or a non-negative JSON integer. */
const height = z.union([
  z
    .string()
    .regex(/^0x[0-9a-fA-F]+$/, "must be a block height")
    .transform((v) => Number(v)),
  z.number().int().nonnegative(),
]);

/**
 * chainkeep_backtrack (admin): rewinds the reader to a height, keeping it, and re-applies every
 * block above it from the store (NodeX "backtracking", for data reported bad above a height).
 * Answers `{from, to}` once the blocks above are unwound; re-applying follows in the background.
 */
export const chainkeep_backtrack = defineMethod({
  name: "chainkeep_backtrack",
  admin: true,
  params: params(required("height", height)),
  handler: ([to], { env }) => {
    if (!env.admin) throw new RpcError("RPC_METHOD_NOT_FOUND", "admin actions are not available");
    return env.admin.backtrack(to);
  },
});
