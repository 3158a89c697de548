import type { BlockSpec } from "../block.ts";
import { CALL_PARAMS, callTarget, hasOverrides } from "../call.ts";
import { defineMethod } from "../context.ts";
import { asEvmRequest } from "../evm.ts";

// anvil estimates in its pending block when no block is given.
const PENDING: BlockSpec = { kind: "tag", tag: "pending" };

/** eth_estimateGas, executed locally by src/evm; with overrides or what it cannot run, forwarded. */
export const eth_estimateGas = defineMethod({
  name: "eth_estimateGas",
  params: CALL_PARAMS,
  handler: async ([tx, block, state, blockOv], ctx) => {
    if (hasOverrides(state) || hasOverrides(blockOv)) return ctx.forward();
    const evm = await ctx.env.evm();
    const { height, opts } = callTarget(ctx, evm, block ?? PENDING);
    return evm.estimateGas(ctx.env.view, asEvmRequest(tx), height, opts);
  },
});
