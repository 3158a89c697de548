/** Executing one call transaction on the pre-state, as anvil's `call_with_state` does. */
import { createEVM, type EVM, type InterpreterStep } from "@ethereumjs/evm";
import { Account, type Address, bytesToUnprefixedHex, hexToBytes, setLengthLeft } from "@ethereumjs/util";
import { ChainkeepError } from "../util/errors.ts";
import type { Hex } from "../util/hex.ts";
import { type ExecContext, forwardingBlockchain, takeVm, vmCommon } from "./env.ts";
import { gasTooHighError, haltError, rejectedError, revertError, unsupportedError } from "./errors.ts";
import {
  DYNAMIC_GAS_INPUTS,
  haltReasonOf,
  isInstructionStart,
  NOT_ACTIVATED,
  type RunState,
  revmOutOfGas,
} from "./halt.ts";
import { OverlayStateManager } from "./state.ts";

/** A call transaction ready to execute: fees resolved as anvil's `build_call_env` does. */
export interface PreparedTx {
  caller: Address;
  to: Address | undefined;
  value: bigint;
  data: Uint8Array;
  /** The price the balance check multiplies the gas limit by (gasPrice or maxFeePerGas). */
  maxGasPrice: bigint;
  /** GASPRICE and the gas deducted up front. */
  effectiveGasPrice: bigint;
  accessList: { address: Hex; storageKeys: Hex[] }[];
  /** Calldata tokens (EIP-7623): zero bytes + 4 × non-zero bytes. */
  tokens: bigint;
  /** A validation revm rejects before execution: request chain id mismatch, oversized init code. */
  error?: "chainId" | "initcode";
}

// Transaction gas schedule of Osaka (unchanged since Prague): intrinsic costs, EIP-3860 init-code
// words, EIP-2930 access lists, the EIP-7623 calldata floor, the EIP-3529 refund cap.
const TX_GAS = 21000n;
const TX_CREATE_GAS = 32000n;
const TX_DATA_GAS_PER_TOKEN = 4n;
const INITCODE_WORD_GAS = 2n;
const ACCESS_LIST_ADDRESS_GAS = 2400n;
const ACCESS_LIST_KEY_GAS = 1900n;
const FLOOR_GAS_PER_TOKEN = 10n;
const MAX_REFUND_QUOTIENT = 5n;

/** Intrinsic gas and the EIP-7623 calldata floor of a prepared transaction, in gas. */
export function intrinsicGas(tx: PreparedTx): { intrinsic: bigint; floor: bigint } {
  let gas = TX_GAS + tx.tokens * TX_DATA_GAS_PER_TOKEN;
  if (tx.to === undefined) gas += TX_CREATE_GAS + INITCODE_WORD_GAS * BigInt(Math.ceil(tx.data.length / 32));
  for (const item of tx.accessList) {
    gas += ACCESS_LIST_ADDRESS_GAS + ACCESS_LIST_KEY_GAS * BigInt(item.storageKeys.length);
  }
  return { intrinsic: gas, floor: TX_GAS + tx.tokens * FLOOR_GAS_PER_TOKEN };
}

/** The outcome of one execution, as revm reports it. */
export type Outcome =
  | { kind: "success"; output: Uint8Array; gasUsed: bigint }
  | { kind: "revert"; output: Uint8Array; gasUsed: bigint }
  /** `reason` is revm's `InstructionResult` name ("OutOfGas", "InvalidFEOpcode"…). */
  | { kind: "halt"; reason: string; gasUsed: bigint }
  /** Rejected before execution; `gasTooHigh` marks the errors estimation treats as out of gas. */
  | { kind: "invalid"; error: ChainkeepError; gasTooHigh: boolean };

const OOG_FAMILY = new Set([
  "OutOfGas",
  "MemoryOOG",
  "MemoryLimitOOG",
  "PrecompileOOG",
  "InvalidOperandOOG",
  "ReentrancySentryOOG",
]);

/** True for the halts anvil's estimation counts as "out of gas". */
export function isOutOfGas(reason: string): boolean {
  return OOG_FAMILY.has(reason);
}

/** The error anvil's `eth_call` answers for an outcome that is not a success. */
export function outcomeError(o: Exclude<Outcome, { kind: "success" }>): ChainkeepError {
  if (o.kind === "revert") return revertError(o.output);
  if (o.kind === "halt") return haltError(o.reason);
  return o.error;
}

interface RawRun {
  error: string | undefined;
  output: Uint8Array;
  gasUsed: bigint;
  gasSpent: bigint;
  /** The top frame's interpreter state when it stopped (pc, stack, memory size, code). */
  runState: RunState | undefined;
  lastTopStep: InterpreterStep | undefined;
  evm: EVM;
}

async function runOnce(
  ctx: ExecContext,
  tx: PreparedTx,
  gasLimit: bigint,
  intrinsic: bigint,
  floor: bigint,
  trace: boolean,
): Promise<RawRun | ChainkeepError> {
  if (ctx.vm === undefined) ctx.vm = takeVm(ctx);
  if (ctx.vm === undefined) {
    const sm = new OverlayStateManager({}, { base: ctx.state });
    const chain = { target: ctx.blockchain };
    const kzg = { used: false };
    const evm = await createEVM({
      common: vmCommon(Number(ctx.common.chainId()), kzg),
      stateManager: sm,
      blockchain: forwardingBlockchain(chain),
    });
    ctx.vm = { evm, sm, chain, kzg };
  }
  const { evm, sm, kzg } = ctx.vm;
  // Every run starts from the pre-state with an empty journal (warm sets, touched accounts).
  sm.reset();
  evm.journal.cleanJournal();
  evm.transientStorage.clear();
  evm.events.removeAllListeners("step");
  const journal = evm.journal;
  for (const address of evm.precompiles.keys()) journal.addAlwaysWarmAddress(address);
  journal.addAlwaysWarmAddress(bytesToUnprefixedHex(tx.caller.bytes));
  if (tx.to !== undefined) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(tx.to.bytes));
  journal.addAlwaysWarmAddress(bytesToUnprefixedHex(hexToBytes(ctx.env.coinbase)));
  for (const item of tx.accessList) {
    const address = item.address.slice(2).toLowerCase();
    journal.addAlwaysWarmAddress(address, true);
    for (const key of item.storageKeys) {
      journal.addAlwaysWarmSlot(address, bytesToUnprefixedHex(setLengthLeft(hexToBytes(key), 32)), true);
    }
  }

  // revm's validate_against_state_and_deduct_caller: the balance must cover the maximum cost;
  // the effective cost is deducted up front (nonce checks are disabled for calls).
  const caller = (await sm.getAccount(tx.caller)) ?? new Account();
  if (caller.balance < gasLimit * tx.maxGasPrice + tx.value) {
    return rejectedError("Insufficient funds for gas * price + value");
  }
  caller.balance -= gasLimit * tx.effectiveGasPrice;
  await journal.putAccount(tx.caller, caller);

  let lastTopStep: InterpreterStep | undefined;
  if (trace) {
    evm.events.on("step", (step: InterpreterStep) => {
      if (step.depth === 0) lastTopStep = step;
    });
  }
  kzg.used = false;
  const result = await evm.runCall({
    block: ctx.block,
    gasPrice: tx.effectiveGasPrice,
    caller: tx.caller,
    origin: tx.caller,
    gasLimit: gasLimit - intrinsic,
    to: tx.to,
    value: tx.value,
    data: tx.data,
  });
  if (kzg.used) throw unsupportedError("the KZG point-evaluation precompile");
  const exec = result.execResult;
  const spent = intrinsic + exec.executionGasUsed;
  let used = spent;
  if (exec.exceptionError === undefined) {
    const refund = exec.gasRefund ?? 0n;
    const maxRefund = spent / MAX_REFUND_QUOTIENT;
    used = spent - (refund < maxRefund ? refund : maxRefund);
  }
  if (used < floor) used = floor;
  return {
    error: exec.exceptionError?.error,
    output: exec.returnValue,
    gasUsed: used,
    gasSpent: spent,
    runState: exec.runState,
    lastTopStep,
    evm,
  };
}

/**
 * How much a halt must be named: `exact` as eth_call reports it, `family` enough for estimation's
 * first run (any out-of-gas is one answer there), `none` for the binary search.
 */
export type Precision = "exact" | "family" | "none";

/**
 * Executes `tx` with `gasLimit` on the pre-state, as anvil's `call_with_state` does (base-fee,
 * nonce, EIP-3607 and block-gas-limit checks off), naming halts of the top frame as revm does.
 */
export async function transact(
  ctx: ExecContext,
  tx: PreparedTx,
  gasLimit: bigint,
  precision: Precision,
): Promise<Outcome> {
  if (tx.error === "chainId") {
    return { kind: "invalid", error: rejectedError("invalid chain id for signer"), gasTooHigh: false };
  }
  if (tx.error === "initcode") {
    return { kind: "invalid", error: rejectedError("max initcode size exceeded"), gasTooHigh: false };
  }
  const { intrinsic, floor } = intrinsicGas(tx);
  if (gasLimit < intrinsic) {
    return { kind: "invalid", error: gasTooHighError("CallGasCostMoreThanGasLimit"), gasTooHigh: true };
  }
  if (gasLimit < floor) {
    return { kind: "invalid", error: gasTooHighError("GasFloorMoreThanGasLimit"), gasTooHigh: true };
  }

  const run = await runOnce(ctx, tx, gasLimit, intrinsic, floor, false);
  if (run instanceof ChainkeepError) return { kind: "invalid", error: run, gasTooHigh: false };
  if (run.error === undefined) return { kind: "success", output: run.output, gasUsed: run.gasUsed };
  const halt = (reason: string): Outcome => ({ kind: "halt", reason, gasUsed: run.gasSpent });

  const precompile = tx.to === undefined ? undefined : run.evm.getPrecompile(tx.to);
  if (precompile !== undefined) {
    // Precompiles fail in two ways in revm: out of gas, or rejected input (ethereumjs may report
    // the latter as a revert). Tell them apart by retrying with plenty of gas.
    if (precision === "none") return halt("PrecompileError");
    // The EVM's own Common: it carries the EVM's gas parameters and its KZG mark.
    const kzg = ctx.vm?.kzg;
    if (kzg !== undefined) kzg.used = false;
    const retry = await precompile({
      data: tx.data,
      gasLimit: 2n ** 62n,
      common: run.evm.common,
      _EVM: run.evm,
      _debug: undefined,
    } as Parameters<typeof precompile>[0]);
    if (kzg?.used) throw unsupportedError("the KZG point-evaluation precompile");
    return halt(
      retry.exceptionError === undefined && run.error === "out of gas" ? "PrecompileOOG" : "PrecompileError",
    );
  }
  if (run.error === "revert") return { kind: "revert", output: run.output, gasUsed: run.gasUsed };

  const reason = haltReasonOf(run.error) ?? "PrecompileError";
  const rs = run.runState;
  if (precision === "none" || rs === undefined) return halt(reason);
  const code = rs.code;
  const pc = rs.programCounter;
  if (run.error === "invalid opcode") {
    // Raised before the program counter moves: the byte at pc is the culprit.
    const op = code[pc] ?? 0;
    return halt(op === 0xfe ? "InvalidFEOpcode" : NOT_ACTIVATED.has(op) ? "NotActivated" : "OpcodeNotFound");
  }
  if (run.error === "stack underflow") {
    // revm reports a DUPn on a too-short stack as a stack overflow. DUPs fail in their handler,
    // after the program counter moved past them.
    const op = code[pc - 1] ?? 0;
    const dup = op >= 0x80 && op <= 0x8f && isInstructionStart(code, pc - 1);
    return halt(dup && rs.stack.length < op - 0x7f ? "StackOverflow" : "StackUnderflow");
  }
  if (run.error !== "out of gas") return halt(reason);

  // Out of gas. A creation whose init code returned but cannot pay the code deposit: the
  // interpreter ended without running out itself (an instruction that does leaves no gas).
  if (tx.to === undefined && rs.opCode === 0xf3 && rs.gasLeft > 0n) return halt("OutOfGas");
  // Otherwise raised by the instruction at pc, before the program counter moved. Most cases are
  // named from the final interpreter state; those that depend on the gas left before the
  // instruction are re-run with a step tracer. Estimation only needs to tell a stack underflow or
  // an out-of-bounds RETURNDATACOPY from the rest.
  if (!isInstructionStart(code, pc)) return halt("OutOfGas");
  const op = code[pc] as number;
  if (rs.stack.length < (DYNAMIC_GAS_INPUTS.get(op) ?? 0)) return halt("StackUnderflow");
  if (precision === "family" && op !== 0x3e) return halt("OutOfGas");
  const returnDataSize = rs.interpreter.getReturnDataSize();
  // The gas handler records the expansion before charging, so this is the size after it.
  const quick = revmOutOfGas({
    op,
    stack: rs.stack.getStack(),
    memoryWords: rs.memoryWordCount,
    returnDataSize,
  });
  if (quick === "OutOfGas") return halt(quick);
  let step: InterpreterStep | undefined;
  try {
    const traced = await runOnce(ctx, tx, gasLimit, intrinsic, floor, true);
    if (!(traced instanceof ChainkeepError)) step = traced.lastTopStep;
  } catch (err) {
    // ethereumjs' tracer itself can fail (it copies REVERT data of absurd lengths); the state it
    // reads was all loaded by the first run, so this is not a state error.
    if (err instanceof ChainkeepError) throw err;
  }
  if (step === undefined || step.pc !== pc) return halt(quick ?? "OutOfGas");
  const named = revmOutOfGas({
    op,
    stack: step.stack,
    gasLeft: step.gasLeft,
    memoryWords: BigInt(step.memoryWordCount),
    returnDataSize,
  });
  return halt(named ?? "OutOfGas");
}
