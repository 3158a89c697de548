import { ChainkeepError, errorClass } from "../util/errors.ts";

/**
 * Codes of the JSON-RPC front: a request that is not JSON or not JSON-RPC, an unknown method,
 * invalid parameters, a limit exceeded, a forwarded request the upstream failed, a server-side
 * refusal, and a reader that is not serving chain data yet.
 */
export type RpcErrorCode =
  | "RPC_PARSE"
  | "RPC_INVALID_REQUEST"
  | "RPC_METHOD_NOT_FOUND"
  | "RPC_INVALID_PARAMS"
  | "RPC_LIMIT"
  | "RPC_UPSTREAM"
  | "RPC_SERVER_ERROR"
  | "RPC_NOT_READY";

/** An error with a {@link RpcErrorCode}. */
export const RpcError = errorClass<RpcErrorCode>("RpcError");
export type RpcError = InstanceType<typeof RpcError>;

/**
 * JSON-RPC 2.0 and EIP-1474 error codes (https://eips.ethereum.org/EIPS/eip-1474#error-codes).
 * Every JSON-RPC error chainkeep sends carries one of these, or a code an upstream or the EVM gave.
 */
export const RpcCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  SERVER_ERROR: -32000,
  RESOURCE_NOT_FOUND: -32001,
  RESOURCE_UNAVAILABLE: -32002,
  TRANSACTION_REJECTED: -32003,
  METHOD_NOT_SUPPORTED: -32004,
  LIMIT_EXCEEDED: -32005,
} as const;

/** The `error` member of a JSON-RPC response. */
export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** Shorthand for the typed error that becomes a -32602 answer. */
export function invalidParams(message: string, meta: Record<string, unknown> = {}): RpcError {
  return new RpcError("RPC_INVALID_PARAMS", message, meta);
}

// An error that carries a JSON-RPC error verbatim (EVM execution, upstream answers) in
// meta.rpcCode / meta.rpcMessage / meta.rpcData.
function verbatim(err: ChainkeepError, fallbackCode: number): JsonRpcErrorObject {
  const code = typeof err.meta.rpcCode === "number" ? err.meta.rpcCode : fallbackCode;
  const message = typeof err.meta.rpcMessage === "string" ? err.meta.rpcMessage : err.message;
  const out: JsonRpcErrorObject = { code, message };
  if (err.meta.rpcData !== undefined) out.data = err.meta.rpcData;
  return out;
}

/**
 * The one mapping from anything thrown while serving a request to the JSON-RPC error object sent
 * back. Internal failures become -32603 "Internal error" without their message or stack, so
 * nothing about the server's insides leaks to clients.
 */
export function toJsonRpcError(err: unknown): JsonRpcErrorObject {
  if (!(err instanceof ChainkeepError)) return { code: RpcCode.INTERNAL_ERROR, message: "Internal error" };
  switch (err.code) {
    case "RPC_PARSE":
      return { code: RpcCode.PARSE_ERROR, message: err.message };
    case "RPC_INVALID_REQUEST":
      return { code: RpcCode.INVALID_REQUEST, message: err.message };
    case "RPC_METHOD_NOT_FOUND":
      return { code: RpcCode.METHOD_NOT_FOUND, message: err.message };
    case "RPC_INVALID_PARAMS":
    case "EVM_INVALID_REQUEST":
      return verbatim(err, RpcCode.INVALID_PARAMS);
    case "INVALID_ARGUMENT":
      return { code: RpcCode.INVALID_PARAMS, message: err.message };
    case "RPC_LIMIT":
      return { code: RpcCode.LIMIT_EXCEEDED, message: err.message };
    case "EVM_REVERTED":
      return verbatim(err, 3);
    case "EVM_FAILED":
    case "RPC_UPSTREAM":
      return verbatim(err, RpcCode.SERVER_ERROR);
    case "UPSTREAM_RPC":
      return { code: RpcCode.SERVER_ERROR, message: "upstream unavailable" };
    case "STATE_UNAVAILABLE":
      return { code: RpcCode.SERVER_ERROR, message: "state not available" };
    case "STATE_PRUNED":
    case "EVM_UNSUPPORTED":
      return { code: RpcCode.SERVER_ERROR, message: err.message };
    case "BLOCK_NOT_FOUND":
    case "HEADER_NOT_FOUND":
      return { code: RpcCode.RESOURCE_NOT_FOUND, message: "Resource not found" };
    case "RPC_SERVER_ERROR":
    case "RPC_NOT_READY":
      return { code: RpcCode.SERVER_ERROR, message: err.message };
    default:
      return { code: RpcCode.INTERNAL_ERROR, message: "Internal error" };
  }
}
