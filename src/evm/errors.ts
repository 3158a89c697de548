import { errorClass } from "../util/errors.ts";
import { bufToHex, type Hex } from "../util/hex.ts";

// JSON-RPC error codes anvil uses for call failures (EIP-1474).
const EXECUTION_ERROR = 3;
const SERVER_ERROR = -32000;
const TRANSACTION_REJECTED = -32003;
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;

const SEL_ERROR = "08c379a0"; // Error(string)
const SEL_PANIC = "4e487b71"; // Panic(uint256)
const SEL_CHEATCODE = "eeaa9e6f"; // foundry's Vm CheatcodeError(string)
const MAGIC_SKIP = Buffer.from("FOUNDRY::SKIP");

const PANIC_KINDS: Record<number, string> = {
  0: "generic/unspecified error",
  1: "assertion failed",
  17: "arithmetic underflow or overflow",
  18: "division or modulo by zero",
  33: "failed to convert value into enum type",
  34: "storage byte array incorrectly encoded",
  49: "called `.pop()` on an empty array",
  50: "array out-of-bounds access",
  65: "memory allocation error",
  81: "called an invalid internal function",
};

const lossy = new TextDecoder("utf-8");
const strict = new TextDecoder("utf-8", { fatal: true });

function strictUtf8(b: Uint8Array): string | undefined {
  try {
    return strict.decode(b);
  } catch {
    return undefined;
  }
}

function word(b: Uint8Array, at: number): bigint | undefined {
  if (at + 32 > b.length) return undefined;
  return BigInt(bufToHex(b.subarray(at, at + 32)));
}

/**
 * ABI-decodes a single `string` from `b` as alloy does without validation: head offset, length,
 * bytes (padding and trailing data not checked), lossy UTF-8.
 */
function abiString(b: Uint8Array): string | undefined {
  const offset = word(b, 0);
  if (offset === undefined || offset > BigInt(b.length)) return undefined;
  const len = word(b, Number(offset));
  const start = Number(offset) + 32;
  if (len === undefined || BigInt(start) + len > BigInt(b.length)) return undefined;
  return lossy.decode(b.subarray(start, start + Number(len)));
}

function isAscii(b: Uint8Array): boolean {
  for (const x of b) if (x > 0x7f) return false;
  return true;
}

function nonEmptyString(b: Uint8Array): string | undefined {
  const s = abiString(b);
  if (s !== undefined && s !== "") return s;
  if (b.length > 0 && isAscii(b)) return Buffer.from(b).toString("latin1");
  return undefined;
}

/**
 * The reason anvil appends to "execution reverted: " for revert data, or undefined for none:
 * foundry's `RevertDecoder::maybe_decode` without known ABIs (Error(string), Panic(uint256),
 * ABI-encoded or ASCII strings, else "custom error 0x<selector>: …").
 */
export function decodeRevertReason(data: Uint8Array): string | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.subarray(0, MAGIC_SKIP.length).equals(MAGIC_SKIP)) {
    const rest = lossy.decode(data.subarray(MAGIC_SKIP.length));
    return rest === "" ? "skipped" : `skipped: ${rest}`;
  }
  const selector = buf.subarray(0, 4).toString("hex");
  if (data.length >= 4) {
    const params = data.subarray(4);
    if (selector === SEL_ERROR || selector === SEL_CHEATCODE) {
      const s = abiString(params);
      if (s !== undefined) return s;
    } else if (selector === SEL_PANIC) {
      const code = word(params, 0);
      if (code !== undefined) {
        const kind = code <= 0xffn ? PANIC_KINDS[Number(code)] : undefined;
        return kind !== undefined
          ? `panic: ${kind} (0x${code.toString(16).padStart(2, "0")})`
          : `panic: unknown code (0x${code.toString(16)})`;
      }
    }
  }
  const str = nonEmptyString(data);
  if (data.length >= 4) {
    if (str !== undefined) return str;
    const params = data.subarray(4);
    if (params.length === 0) return `custom error 0x${selector}`;
    return `custom error 0x${selector}: ${strictUtf8(params) ?? Buffer.from(params).toString("hex")}`;
  }
  if (str !== undefined) return str;
  return data.length === 0 ? undefined : `custom error bytes ${bufToHex(data)}`;
}

/** The JSON-RPC error anvil answers, carried in a ChainkeepError's meta. */
export interface RpcErrorShape {
  rpcCode: number;
  rpcMessage: string;
  rpcData?: Hex;
}

/**
 * Codes of local execution: a revert, a failed execution (an exceptional halt, a transaction the
 * EVM refuses), a request anvil calls invalid, each carrying anvil's JSON-RPC error in its meta
 * (`RpcErrorShape`); and a request this EVM cannot run (the RPC layer forwards it).
 */
export type EvmErrorCode = "EVM_REVERTED" | "EVM_FAILED" | "EVM_INVALID_REQUEST" | "EVM_UNSUPPORTED";

/** An error with a {@link EvmErrorCode}. */
export const EvmError = errorClass<EvmErrorCode>("EvmError");
export type EvmError = InstanceType<typeof EvmError>;

function rpcError(
  code: "EVM_REVERTED" | "EVM_FAILED" | "EVM_INVALID_REQUEST",
  shape: RpcErrorShape,
): EvmError {
  return new EvmError(code, shape.rpcMessage, { ...shape });
}

/** A revert: code 3, "execution reverted[: reason]", the revert data. */
export function revertError(output: Uint8Array): EvmError {
  const reason = decodeRevertReason(output);
  return rpcError("EVM_REVERTED", {
    rpcCode: EXECUTION_ERROR,
    rpcMessage: reason === undefined ? "execution reverted" : `execution reverted: ${reason}`,
    rpcData: bufToHex(output),
  });
}

/** An exceptional halt, named as revm's `InstructionResult` ("EVM error OutOfGas"). */
export function haltError(reason: string): EvmError {
  return rpcError("EVM_FAILED", { rpcCode: INTERNAL_ERROR, rpcMessage: `EVM error ${reason}` });
}

/** Gas limit below the intrinsic gas or the EIP-7623 floor. */
export function gasTooHighError(
  detail: "CallGasCostMoreThanGasLimit" | "GasFloorMoreThanGasLimit",
): EvmError {
  return rpcError("EVM_FAILED", {
    rpcCode: SERVER_ERROR,
    rpcMessage: `intrinsic gas too high -- ${detail}`,
  });
}

/** A transaction-validation failure anvil answers with -32003. */
export function rejectedError(message: string): EvmError {
  return rpcError("EVM_FAILED", { rpcCode: TRANSACTION_REJECTED, rpcMessage: message });
}

/** Invalid request parameters (-32602), as anvil words them. */
export function invalidParamsError(message: string): EvmError {
  return rpcError("EVM_INVALID_REQUEST", { rpcCode: INVALID_PARAMS, rpcMessage: message });
}

/** The request uses something this EVM cannot execute; the RPC layer should forward it. */
export function unsupportedError(what: string, cause?: unknown): EvmError {
  return new EvmError(
    "EVM_UNSUPPORTED",
    `eth_call/eth_estimateGas: ${what} is not supported locally`,
    { what },
    cause === undefined ? undefined : { cause },
  );
}
