import type { CallRequest, estimateGas, ethCall, nextBlockEnv } from "../evm/index.ts";
import { CommonError } from "../util/errors.ts";

/**
 * What the RPC layer uses of src/evm. `ethCall` and `estimateGas` throw EvmError
 * EVM_REVERTED / EVM_FAILED / EVM_INVALID_REQUEST (with meta.rpcCode,
 * rpcMessage, rpcData: sent verbatim), or STATE_UNAVAILABLE / EVM_UNSUPPORTED (the request is
 * forwarded to the upstream).
 */
export interface EvmApi {
  ethCall: typeof ethCall;
  estimateGas: typeof estimateGas;
  nextBlockEnv: typeof nextBlockEnv;
}

export type { CallOptions as EvmCallOptions, CallRequest as EvmCallRequest } from "../evm/index.ts";

let loaded: Promise<EvmApi> | undefined;

/** src/evm, imported on first use (a server that never executes calls does not load the EVM). */
export function loadEvm(): Promise<EvmApi> {
  loaded ??= import("../evm/index.ts").then(
    (m): EvmApi => ({ ethCall: m.ethCall, estimateGas: m.estimateGas, nextBlockEnv: m.nextBlockEnv }),
    (err: unknown) => {
      loaded = undefined;
      throw new CommonError("INTERNAL", "cannot load src/evm", {}, { cause: err });
    },
  );
  return loaded;
}

/** The call request as src/evm takes it (null fields mean absent, which src/evm accepts). */
export function asEvmRequest(req: Record<string, unknown>): CallRequest {
  return req as CallRequest;
}
