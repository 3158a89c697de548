import { blockHashAt, LATEST } from "../block.ts";
import { CALL_PARAMS, callTarget, hasOverrides } from "../call.ts";
import { canonicalRequest } from "../callcache.ts";
import { defineMethod } from "../context.ts";
import { asEvmRequest } from "../evm.ts";

/**
 * eth_call, executed locally by src/evm on the post-state of the block. Calls with state or block
 * overrides, and calls the local EVM cannot answer, are forwarded to the upstream. Answers are
 * cached by block hash and request (`CallCache`), except on `pending`.
 */
export const eth_call = defineMethod({
  name: "eth_call",
  params: CALL_PARAMS,
  handler: async ([tx, block, state, blockOv], ctx) => {
    if (hasOverrides(state) || hasOverrides(blockOv)) return ctx.forward();
    const evm = await ctx.env.evm();
    const { height, opts } = callTarget(ctx, evm, block ?? LATEST);
    const cache = ctx.env.callCache;
    // `pending` runs in a block environment of its own (the wall clock): not cached.
    const hash = opts.env === undefined ? blockHashAt(ctx.env.view, height) : undefined;
    const key = hash === undefined ? undefined : cache.key(hash, canonicalRequest(tx));
    if (key !== undefined) {
      const hit = cache.get(key);
      if (hit !== undefined) {
        if (hit.ok) return hit.result;
        throw hit.error;
      }
    }
    try {
      const result = await evm.ethCall(ctx.env.view, asEvmRequest(tx), height, opts);
      if (key !== undefined) cache.set(key, { ok: true, result });
      return result;
    } catch (err) {
      if (key !== undefined) cache.set(key, { ok: false, error: err });
      throw err;
    }
  },
});
