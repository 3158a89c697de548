import { Address, hexToBytes } from "@ethereumjs/util";
import type { Hex } from "../util/hex.ts";
import { invalidParamsError, unsupportedError } from "./errors.ts";
import type { PreparedTx } from "./exec.ts";
import type { BlockEnv, CallRequest } from "./types.ts";

const ZERO_ADDRESS = new Address(new Uint8Array(20));
const MAX_INITCODE_SIZE = 2 * 24576;

function present<T>(v: T | null | undefined): v is T {
  return v !== undefined && v !== null;
}

/** Parses an optional QUANTITY field; malformed values are invalid params. */
export function quantity(req: CallRequest, field: keyof CallRequest): bigint | undefined {
  const v = req[field];
  if (!present(v)) return undefined;
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{1,64}$/.test(v)) {
    throw invalidParamsError(`invalid ${String(field)}: ${JSON.stringify(v)}`);
  }
  return BigInt(v);
}

function bytes(field: string, v: unknown): Uint8Array {
  if (typeof v !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(v)) {
    throw invalidParamsError(`invalid ${field}: ${JSON.stringify(v)}`);
  }
  return hexToBytes(v as Hex);
}

function address(field: string, v: unknown): Address {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(v)) {
    throw invalidParamsError(`invalid ${field}: ${JSON.stringify(v)}`);
  }
  return new Address(hexToBytes(v.toLowerCase() as Hex));
}

/** The call's input: `input`, else `data` (alloy's `TransactionInput::input`). */
export function inputOf(req: CallRequest): Uint8Array {
  if (present(req.input)) return bytes("input", req.input);
  if (present(req.data)) return bytes("data", req.data);
  return new Uint8Array(0);
}

/** The caller: `from`, or the zero address as anvil defaults it. */
export function callerOf(req: CallRequest): Address {
  return present(req.from) ? address("from", req.from) : ZERO_ADDRESS;
}

/** The callee, or undefined for a contract creation. */
export function calleeOf(req: CallRequest): Address | undefined {
  return present(req.to) ? address("to", req.to) : undefined;
}

/** Whether the request carries an access list / authorization list / blob hashes (even empty). */
export function has(
  req: CallRequest,
  field: "accessList" | "authorizationList" | "blobVersionedHashes",
): boolean {
  return present(req[field]);
}

/**
 * Fees as anvil's `FeeDetails::new(..).or_zero_fees()`: a legacy `gasPrice` alone prices
 * everything; otherwise `maxFeePerGas` does (and `gasPrice` is ignored), and a priority fee above
 * it is rejected. Without any fee the price is zero, which skips the balance check for gas.
 */
export function feesOf(req: CallRequest): { gasPrice: bigint; maxPriorityFee: bigint | undefined } {
  const gasPrice = quantity(req, "gasPrice");
  const maxFee = quantity(req, "maxFeePerGas");
  const priority = quantity(req, "maxPriorityFeePerGas");
  if (maxFee === undefined && priority === undefined && !present(req.maxFeePerBlobGas)) {
    return { gasPrice: gasPrice ?? 0n, maxPriorityFee: gasPrice };
  }
  if (priority !== undefined && priority > (maxFee ?? 0n)) {
    throw invalidParamsError("Invalid input: `max_priority_fee_per_gas` greater than `max_fee_per_gas`");
  }
  return { gasPrice: maxFee ?? 0n, maxPriorityFee: priority };
}

/**
 * The transaction anvil builds for a call (`build_call_env`): caller defaults to the zero address,
 * the gas price comes from {@link feesOf}, and for EIP-1559 requests GASPRICE is
 * min(maxFeePerGas, baseFee + maxPriorityFeePerGas).
 */
export function prepareTx(req: CallRequest, env: BlockEnv, chainId: number): PreparedTx {
  if (has(req, "authorizationList")) throw unsupportedError("EIP-7702 authorizationList");
  if (has(req, "blobVersionedHashes") || present(req.maxFeePerBlobGas))
    throw unsupportedError("EIP-4844 blob fields");
  const fees = feesOf(req);
  const data = inputOf(req);
  const to = calleeOf(req);
  const is1559 = present(req.maxFeePerGas) || present(req.maxPriorityFeePerGas);
  let effective = fees.gasPrice;
  if (is1559 && fees.maxPriorityFee !== undefined) {
    const capped = env.baseFeePerGas + fees.maxPriorityFee;
    if (capped < effective) effective = capped;
  }
  const accessList = (req.accessList ?? []).map((item, i) => ({
    address: address(`accessList[${i}].address`, item.address).toString() as Hex,
    storageKeys: (item.storageKeys ?? []).map((k) => {
      const key = bytes(`accessList[${i}].storageKeys`, k);
      if (key.length > 32) throw invalidParamsError(`invalid accessList[${i}] storage key`);
      return k;
    }),
  }));
  let tokens = 0n;
  for (const b of data) tokens += b === 0 ? 1n : 4n;
  const tx: PreparedTx = {
    caller: callerOf(req),
    to,
    value: quantity(req, "value") ?? 0n,
    data,
    maxGasPrice: fees.gasPrice,
    effectiveGasPrice: effective,
    accessList,
    tokens,
  };
  const reqChainId = quantity(req, "chainId");
  if (reqChainId !== undefined && reqChainId !== BigInt(chainId)) tx.error = "chainId";
  else if (to === undefined && data.length > MAX_INITCODE_SIZE) tx.error = "initcode";
  return tx;
}

/**
 * The lowest gas limit anvil's estimation starts its binary search from, assumed to fail
 * (`determine_base_gas_by_kind`): 21000 for calls, 53000 for creations. Probing anvil 1.7.1 shows
 * no other distinction for the requests this module executes (any fee fields, `type`, access list).
 */
export function baseGasByKind(req: CallRequest): bigint {
  return present(req.to) ? 21000n : 53000n;
}
