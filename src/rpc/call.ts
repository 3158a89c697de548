/** Shared by eth_call and eth_estimateGas: block resolution, anvil's pending block, overrides. */
import { type BlockSpec, headerAt, resolveStateHeight } from "./block.ts";
import { type CallContext, optional, params, required } from "./context.ts";
import type { EvmApi, EvmCallOptions } from "./evm.ts";
import { nextBaseFee } from "./fees.ts";
import { blockId, callRequest, overrides } from "./schemas.ts";

/** The parameters of eth_call and eth_estimateGas: a transaction, a block, state and block overrides. */
export const CALL_PARAMS = params(
  required("transaction", callRequest),
  optional("block", blockId),
  optional("stateOverrides", overrides),
  optional("blockOverrides", overrides),
);

/** True when an eth_call override object is present and not empty. */
export function hasOverrides(o: Record<string, unknown> | null | undefined): boolean {
  return o !== null && o !== undefined && Object.keys(o).length > 0;
}

/**
 * The height whose post-state a call runs on, and the EVM options. For `pending`, anvil executes
 * in its pending block: the next number, the next base fee and blob gas, the wall clock, on the
 * latest state.
 */
export function callTarget(
  ctx: CallContext,
  evm: EvmApi,
  spec: BlockSpec,
): { height: number; opts: EvmCallOptions } {
  const height = resolveStateHeight(ctx.env, spec);
  if (spec.kind !== "tag" || spec.tag !== "pending") return { height, opts: {} };
  const head = headerAt(ctx.env.view, height);
  if (!head) return { height, opts: {} };
  const parentTs = BigInt(head.timestamp);
  const now = BigInt(Math.floor(ctx.env.now() / 1000));
  // anvil's next block takes the wall clock, and the parent's timestamp when the clock is not past
  // it (it mines several blocks in one second with equal timestamps).
  const env = evm.nextBlockEnv(head, now > parentTs ? now : parentTs);
  // The base fee anvil gives its next block (it keeps genesis' base fee for block 1).
  if (head.baseFeePerGas !== undefined) env.baseFeePerGas = nextBaseFee(head);
  return { height, opts: { env } };
}
