/** Naming exceptional halts as revm (and so anvil) names them, from ethereumjs' coarser errors. */
import type { ExecResult } from "@ethereumjs/evm";

/** Opcodes revm knows but Osaka does not activate ("NotActivated" rather than "OpcodeNotFound"). */
export const NOT_ACTIVATED = new Set([0x4b, 0xe6, 0xe7, 0xe8]);
const MEMORY_LIMIT = 2n ** 32n - 1n;
const U64 = 2n ** 64n;

// How revm charges the opcodes that touch memory, in its order: static gas, lengths converted to
// machine words (InvalidOperandOOG above 2^64), word-proportional gas (OutOfGas), then memory
// (InvalidOperandOOG for offsets above 2^64, MemoryLimitOOG beyond 4 GiB, MemoryOOG for the
// expansion cost). CALL-family opcodes expand memory before charging anything else.
interface MemOpSpec {
  /** Static gas, charged first. */
  base: bigint;
  /** [offset, length] stack positions (0 = top), or a fixed length. */
  ranges: [number, number | bigint][];
  /** Gas proportional to the lengths, charged before memory. */
  perLen?: (len: bigint) => bigint;
  call?: boolean;
  /** RETURNDATACOPY: the range read from the return data must exist (else OutOfOffset). */
  returnData?: boolean;
}
const words = (len: bigint): bigint => (len + 31n) / 32n;
const copy = (len: bigint) => 3n * words(len);
const CALL_RANGES: [number, number][] = [
  [3, 4],
  [5, 6],
];
const CALL_RANGES_NO_VALUE: [number, number][] = [
  [2, 3],
  [4, 5],
];
const MEMORY_OPS = new Map<number, MemOpSpec>([
  [0x20, { base: 30n, ranges: [[0, 1]], perLen: (len) => 6n * words(len) }], // KECCAK256
  [0x37, { base: 3n, ranges: [[0, 2]], perLen: copy }], // CALLDATACOPY
  [0x39, { base: 3n, ranges: [[0, 2]], perLen: copy }], // CODECOPY
  [0x3c, { base: 100n, ranges: [[1, 3]], perLen: copy }], // EXTCODECOPY (warm access at least)
  [0x3e, { base: 3n, ranges: [[0, 2]], perLen: copy, returnData: true }], // RETURNDATACOPY
  [0x51, { base: 3n, ranges: [[0, 32n]] }], // MLOAD
  [0x52, { base: 3n, ranges: [[0, 32n]] }], // MSTORE
  [0x53, { base: 3n, ranges: [[0, 1n]] }], // MSTORE8
  [
    0x5e,
    {
      base: 3n,
      ranges: [
        [0, 2],
        [1, 2],
      ],
      perLen: copy,
    },
  ], // MCOPY
  // CREATE/CREATE2 charge the init-code words before memory, 32000 (+ hashing) after it.
  [0xf0, { base: 0n, ranges: [[1, 2]], perLen: (len) => 2n * words(len) }], // CREATE
  [0xf5, { base: 0n, ranges: [[1, 2]], perLen: (len) => 2n * words(len) }], // CREATE2
  [0xf3, { base: 0n, ranges: [[0, 1]] }], // RETURN
  [0xfd, { base: 0n, ranges: [[0, 1]] }], // REVERT
  [0xf1, { base: 0n, ranges: CALL_RANGES, call: true }], // CALL
  [0xf2, { base: 0n, ranges: CALL_RANGES, call: true }], // CALLCODE
  [0xf4, { base: 0n, ranges: CALL_RANGES_NO_VALUE, call: true }], // DELEGATECALL
  [0xfa, { base: 0n, ranges: CALL_RANGES_NO_VALUE, call: true }], // STATICCALL
]);
for (let topics = 0; topics <= 4; topics++) {
  const base = 375n * BigInt(topics + 1);
  MEMORY_OPS.set(0xa0 + topics, { base, ranges: [[0, 1]], perLen: (len) => 8n * len }); // LOGn
}

/**
 * Stack inputs of the opcodes whose gas ethereumjs computes before their handler checks the
 * stack; revm checks the stack first, so a short stack there is a StackUnderflow, not out of gas.
 */
export const DYNAMIC_GAS_INPUTS = new Map<number, number>([
  [0x0a, 2], // EXP
  [0x20, 2], // KECCAK256
  [0x31, 1], // BALANCE
  [0x37, 3], // CALLDATACOPY
  [0x39, 3], // CODECOPY
  [0x3b, 1], // EXTCODESIZE
  [0x3c, 4], // EXTCODECOPY
  [0x3e, 3], // RETURNDATACOPY
  [0x3f, 1], // EXTCODEHASH
  [0x51, 1], // MLOAD
  [0x52, 2], // MSTORE
  [0x53, 2], // MSTORE8
  [0x54, 1], // SLOAD
  [0x55, 2], // SSTORE
  [0x5e, 3], // MCOPY
  // LOGn and CREATE2 take their topics / salt only after memory is paid for.
  [0xa0, 2], // LOG0
  [0xa1, 2],
  [0xa2, 2],
  [0xa3, 2],
  [0xa4, 2],
  [0xf0, 3], // CREATE
  [0xf1, 7], // CALL
  [0xf2, 7], // CALLCODE
  [0xf3, 2], // RETURN
  [0xf4, 6], // DELEGATECALL
  [0xf5, 3], // CREATE2
  [0xfa, 6], // STATICCALL
  [0xfd, 2], // REVERT
  [0xff, 1], // SELFDESTRUCT
]);

function memCost(w: bigint): bigint {
  return 3n * w + (w * w) / 512n;
}

/** The state of the top frame just before the instruction that ran out of gas. */
export interface FailedOp {
  op: number;
  /** Stack, top last. */
  stack: bigint[];
  /** Gas left before the instruction; unknown without a trace. */
  gasLeft?: bigint;
  /** Memory size in words before the instruction; unknown without a trace. */
  memoryWords?: bigint;
  returnDataSize: bigint;
}

/**
 * Names an out-of-gas halt of the top frame as revm would (ethereumjs reports all of them, and an
 * out-of-bounds RETURNDATACOPY, as "out of gas"), or undefined when that depends on the gas left
 * or memory size before the instruction, which only a trace tells.
 */
export function revmOutOfGas(f: FailedOp): string | undefined {
  const at = (i: number): bigint => f.stack[f.stack.length - 1 - i] ?? 0n;
  if (f.op === 0x55)
    return f.gasLeft === undefined ? undefined : f.gasLeft <= 2300n ? "ReentrancySentryOOG" : "OutOfGas";
  const spec = MEMORY_OPS.get(f.op);
  if (spec === undefined) return "OutOfGas";
  const ranges = spec.ranges.map(([o, l]) => ({ off: at(o), len: typeof l === "number" ? at(l) : l }));
  let needWords = 0n;
  let invalidOffset = false;
  let beyondLimit = false;
  for (const { off, len } of ranges) {
    if (len === 0n) continue;
    if (off >= U64 || len >= U64) invalidOffset = true;
    else if (off + len > MEMORY_LIMIT) beyondLimit = true;
    if (words(off + len) > needWords) needWords = words(off + len);
  }
  // With `budget` gas left for it, does the memory part fail, and how?
  const memoryReason = (budget: bigint | undefined): string | undefined => {
    if (invalidOffset) return "InvalidOperandOOG";
    if (beyondLimit) return "MemoryLimitOOG";
    if (f.memoryWords === undefined || budget === undefined) return undefined;
    const expansion = needWords > f.memoryWords ? memCost(needWords) - memCost(f.memoryWords) : 0n;
    return expansion > budget ? "MemoryOOG" : "OutOfGas";
  };
  if (spec.call) return memoryReason(f.gasLeft);
  const lens = ranges.map((r) => r.len);
  if (f.gasLeft !== undefined && f.gasLeft < spec.base) return "OutOfGas";
  if (lens.some((len) => len >= U64)) return "InvalidOperandOOG";
  if (spec.returnData && at(1) + (lens[0] ?? 0n) > f.returnDataSize) return "OutOfOffset";
  const nonMemory = spec.base + (spec.perLen?.(lens[0] ?? 0n) ?? 0n);
  if (f.gasLeft === undefined) {
    // Decidable without the gas left when only memory costs gas (RETURN, REVERT), or when the
    // memory part cannot be the cause.
    if (nonMemory === 0n)
      return invalidOffset ? "InvalidOperandOOG" : beyondLimit ? "MemoryLimitOOG" : "MemoryOOG";
    // `memoryWords` is then the size after the instruction's own expansion: only a smaller need
    // proves it expanded nothing.
    const noExpansion = needWords === 0n || (f.memoryWords !== undefined && needWords < f.memoryWords);
    return !invalidOffset && !beyondLimit && noExpansion ? "OutOfGas" : undefined;
  }
  if (f.gasLeft < nonMemory) return "OutOfGas";
  return memoryReason(f.gasLeft - nonMemory) ?? "OutOfGas";
}

/** revm's name for an ethereumjs exceptional-halt message, where the mapping is one to one. */
export function haltReasonOf(error: string): string | undefined {
  switch (error) {
    case "out of gas":
    case "code store out of gas":
      return "OutOfGas";
    case "code size to deposit exceeds maximum code size":
      return "CreateContractSizeLimit";
    case "stack underflow":
      return "StackUnderflow";
    case "stack overflow":
      return "StackOverflow";
    case "invalid opcode":
      return "OpcodeNotFound";
    case "value out of range":
      return "OutOfOffset";
    case "static state change":
      return "StateChangeDuringStaticCall";
    case "create collision":
      return "CreateCollision";
    case "invalid bytecode deployed":
      return "CreateContractStartingWithEF";
    case "insufficient balance":
      return "OutOfFunds";
    case "initcode exceeds max initcode size":
      return "CreateInitCodeSizeLimit";
    default:
      if (error.startsWith("invalid JUMP")) return "InvalidJump";
      return undefined;
  }
}

/** The interpreter state ethereumjs returns with a frame's result. */
export type RunState = NonNullable<ExecResult["runState"]>;

/** Whether `pc` starts an instruction of `code` (is not PUSH data). */
export function isInstructionStart(code: Uint8Array, pc: number): boolean {
  let i = 0;
  while (i < pc) {
    const op = code[i] as number;
    i += op >= 0x60 && op <= 0x7f ? op - 0x5e : 1;
  }
  return i === pc && pc < code.length;
}
