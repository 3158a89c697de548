/**
 * Typed errors with codes. Every component throws a `ChainkeepError` (or a subclass) carrying a
 * stable `code` and structured `meta`; tests assert on `code`, never on message text.
 */
export type ErrorCode =
  // object store
  | "STORE_NOT_FOUND"
  | "STORE_IO"
  | "STORE_UNAVAILABLE"
  // bundle and head-record format
  | "BUNDLE_CHECKSUM"
  | "BUNDLE_HASH_MISMATCH"
  | "BUNDLE_PARENT_MISMATCH"
  | "BUNDLE_FORMAT"
  | "BUNDLE_PRE_MISMATCH"
  | "BUNDLE_ROOT_MISMATCH"
  // upstream
  | "UPSTREAM_RPC"
  | "UPSTREAM_UNSUPPORTED"
  | "UPSTREAM_DIFF_MISMATCH"
  // reader
  | "STATE_UNAVAILABLE"
  | "STATE_PRUNED"
  | "BLOCK_NOT_FOUND"
  | "HEADER_NOT_FOUND"
  // rpc
  | "RPC_PARSE"
  | "RPC_INVALID_REQUEST"
  | "RPC_METHOD_NOT_FOUND"
  | "RPC_INVALID_PARAMS"
  | "RPC_LIMIT"
  | "RPC_EXECUTION_REVERTED"
  | "RPC_EXECUTION_ERROR"
  | "RPC_UPSTREAM"
  | "RPC_SERVER_ERROR"
  | "RPC_NOT_READY"
  // evm (local eth_call / eth_estimateGas)
  | "EVM_UNSUPPORTED"
  // config
  | "CONFIG_INVALID"
  | "CONFIG_UNREADABLE"
  | "CONFIG_SYNTAX"
  | "CONFIG_MISSING"
  | "INTERNAL"
  // demo traffic generator
  | "TRAFFIC_RPC"
  | "TRAFFIC_TX_FAILED"
  | "TRAFFIC_TIMEOUT";

/** Base class of all chainkeep errors. */
export class ChainkeepError extends Error {
  readonly code: ErrorCode;
  readonly meta: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, meta: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChainkeepError";
    this.code = code;
    this.meta = meta;
  }
}

/** True when `err` is a ChainkeepError with the given code. */
export function isErrorCode(err: unknown, code: ErrorCode): err is ChainkeepError {
  return err instanceof ChainkeepError && err.code === code;
}

/** A printable message for anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
