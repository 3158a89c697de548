import { LATEST } from "../block.ts";
import { callTarget, hasOverrides } from "../call.ts";
import { defineMethod, optional, params, required } from "../context.ts";
import { asEvmRequest } from "../evm.ts";
import { blockId, callRequest, overrides } from "../schemas.ts";

/**
 * eth_call, executed locally by src/evm on the post-state of the block. Calls with state or block
 * overrides, and calls the local EVM cannot answer, are forwarded to the upstream.
 */
export const eth_call = defineMethod({
  name: "eth_call",
  params: params(
    required("transaction", callRequest),
    optional("block", blockId),
    optional("stateOverrides", overrides),
    optional("blockOverrides", overrides),
  ),
  handler: async ([tx, block, state, blockOv], ctx) => {
    if (hasOverrides(state) || hasOverrides(blockOv)) return ctx.forward();
    const evm = await ctx.env.evm();
    const { height, opts } = callTarget(ctx, evm, block ?? LATEST);
    return evm.ethCall(ctx.env.view, asEvmRequest(tx), height, opts);
  },
});
