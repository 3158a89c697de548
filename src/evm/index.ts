/**
 * Local execution of `eth_call` and `eth_estimateGas` on the mirrored state, answering exactly what
 * anvil 1.7.1 (hardfork Osaka) answers: the same result, or the same JSON-RPC error object
 * (code, message, data) carried in a ChainkeepError's `meta` (`rpcCode`, `rpcMessage`, `rpcData`).
 *
 * Errors (`EvmError`): `EVM_REVERTED` (code 3, revert data), `EVM_FAILED` (halts, failed
 * validation, estimation out of gas), `EVM_INVALID_REQUEST` (-32602); `STATE_UNAVAILABLE` when the
 * source does not know a piece of state, `EVM_UNSUPPORTED` for requests this EVM cannot execute
 * (EIP-4844 blob fields, EIP-7702 authorization lists, the KZG precompile). For the last two the
 * RPC layer should forward the request to the upstream.
 */
import { ChainkeepError, isErrorCode } from "../util/errors.ts";
import { bufToHex, type Hex, toQuantity } from "../util/hex.ts";
import { blockEnvOf, type ExecContext, makeContext, releaseVm } from "./env.ts";
import { haltError, rejectedError, revertError, unsupportedError } from "./errors.ts";
import { isOutOfGas, type Outcome, outcomeError, transact } from "./exec.ts";
import "./jumps.ts";
import { ReadError } from "../view/index.ts";
import { baseGasByKind, calleeOf, callerOf, has, inputOf, prepareTx, quantity } from "./request.ts";
import { SourceState } from "./state.ts";
import type { BlockEnv, CallOptions, CallRequest, EvmStateSource } from "./types.ts";

export { blockEnvOf, HARDFORK, nextBlockEnv } from "./env.ts";
export { decodeRevertReason, EvmError, type EvmErrorCode, type RpcErrorShape } from "./errors.ts";
export type {
  AccessListEntry,
  BlockEnv,
  CallOptions,
  CallRequest,
  EvmStateSource,
  MaybePromise,
} from "./types.ts";

/** Gas of a plain value transfer (anvil's `MIN_TRANSACTION_GAS`). */
const TRANSFER_GAS = 21000n;

async function contextAt(src: EvmStateSource, height: number, opts: CallOptions): Promise<ExecContext> {
  const block = src.header ? await src.header(height) : await src.block(height);
  if (block === undefined) {
    throw new ReadError("STATE_UNAVAILABLE", `state unavailable: block ${height}`, {
      what: "block",
      height,
    });
  }
  const env: BlockEnv = { ...blockEnvOf(block), ...opts.env };
  return makeContext(src, new SourceState({ height }, { src }), env);
}

function capGas(gas: bigint, opts: CallOptions): bigint {
  return opts.gasCap !== undefined && gas > opts.gasCap ? opts.gasCap : gas;
}

function wrapUnexpected(err: unknown): never {
  if (err instanceof ChainkeepError) throw err;
  // A plain error from ethereumjs (or from the source) means this request cannot be answered
  // here; the upstream can answer it.
  throw unsupportedError(`execution (${err instanceof Error ? err.message : String(err)})`, err);
}

/**
 * `eth_call` on the post-state of block `height` (the RPC layer resolves block tags), as anvil
 * executes it: the block's header as environment, `from` defaulting to the zero address, gas
 * defaulting to the block gas limit, no base-fee, nonce or EIP-3607 checks, and a zero gas price
 * unless one is given (then the caller must afford gas × price + value).
 *
 * @returns the return data (for a creation, the deployed code).
 * https://ethereum.github.io/execution-apis/api-documentation/ (eth_call)
 */
export async function ethCall(
  src: EvmStateSource,
  req: CallRequest,
  height: number,
  opts: CallOptions = {},
): Promise<Hex> {
  const ctx = await contextAt(src, height, opts);
  const tx = prepareTx(req, ctx.env, src.chainId);
  const gas = capGas(quantity(req, "gas") ?? ctx.env.gasLimit, opts);
  let outcome: Outcome;
  try {
    outcome = await transact(ctx, tx, gas, "exact");
  } catch (err) {
    wrapUnexpected(err);
  }
  releaseVm(ctx);
  if (outcome.kind === "success") return bufToHex(outcome.output);
  throw outcomeError(outcome);
}

/**
 * `eth_estimateGas` on the post-state of block `height`, with anvil's algorithm
 * (`do_estimate_gas_with_state`): a plain transfer to a code-less account is 21000 without
 * executing; otherwise the call must succeed with the highest limit (the request's gas or the
 * block gas limit, lowered to what the sender can pay when a fee is given), then a binary search
 * between the kind's base gas and that limit, starting near three times the gas used, returns the
 * lowest limit that succeeds.
 *
 * Note that anvil estimates on its `pending` block when the request has no block parameter: pass
 * the head's height with `opts.env = nextBlockEnv(headBlock, now)` to emulate it.
 * https://ethereum.github.io/execution-apis/api-documentation/ (eth_estimateGas)
 */
export async function estimateGas(
  src: EvmStateSource,
  req: CallRequest,
  height: number,
  opts: CallOptions = {},
): Promise<Hex> {
  const ctx = await contextAt(src, height, opts);
  let gas: bigint;
  try {
    gas = await estimate(ctx, src, req, opts);
  } catch (err) {
    // A JSON-RPC error answer comes after complete runs, so the EVM can serve again; a run cut
    // short (unknown state, unexpected error) may have left it mid-call, so it is dropped.
    if (isErrorCode(err, "EVM_FAILED") || isErrorCode(err, "EVM_REVERTED")) releaseVm(ctx);
    wrapUnexpected(err);
  }
  releaseVm(ctx);
  return toQuantity(gas);
}

async function estimate(
  ctx: ExecContext,
  src: EvmStateSource,
  req: CallRequest,
  opts: CallOptions,
): Promise<bigint> {
  const to = calleeOf(req);
  const maybeTransfer =
    inputOf(req).length === 0 &&
    !has(req, "authorizationList") &&
    !has(req, "accessList") &&
    !has(req, "blobVersionedHashes");
  if (maybeTransfer && to !== undefined && (await ctx.state.code(to)).length === 0) return TRANSFER_GAS;

  const tx = prepareTx(req, ctx.env, src.chainId);
  let highest = capGas(quantity(req, "gas") ?? ctx.env.gasLimit, opts);
  if (tx.maxGasPrice > 0n && req.from !== undefined && req.from !== null) {
    let available = (await ctx.state.account(callerOf(req)))?.balance ?? 0n;
    const value = quantity(req, "value");
    if (value !== undefined) {
      if (value > available) throw rejectedError("Insufficient funds for gas * price + value");
      available -= value;
    }
    const allowance = available / tx.maxGasPrice;
    if (allowance < highest) highest = allowance;
  }

  const outOfGas = () => rejectedError(`Out of gas: gas required exceeds allowance: ${highest}`);
  const first = await transact(ctx, tx, highest, "family");
  let gasUsed: bigint;
  switch (first.kind) {
    case "success":
      gasUsed = first.gasUsed;
      break;
    case "revert":
      throw revertError(first.output);
    case "halt":
      throw isOutOfGas(first.reason) ? outOfGas() : haltError(first.reason);
    case "invalid":
      throw first.gasTooHigh ? outOfGas() : first.error;
  }

  let lowest = baseGasByKind(req);
  const half = (highest + lowest) / 2n;
  let mid = gasUsed * 3n < half ? gasUsed * 3n : half;
  while (highest - lowest > 1n) {
    const o = await transact(ctx, tx, mid, "none");
    if (o.kind === "success") highest = mid;
    else if (o.kind === "invalid" && !o.gasTooHigh) throw outcomeError(o);
    else lowest = mid;
    mid = (highest + lowest) / 2n;
  }
  return highest;
}
