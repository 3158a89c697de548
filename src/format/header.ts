import { keccak256, toRlp, type Hex as ViemHex } from "viem";
import { BundleError } from "./errors.ts";
import type { RpcBlock } from "./types.ts";

// Header fields in RLP order. The first fifteen are in every header; each later one was added by a
// fork (London, Shanghai, Cancun ×3, Prague) and is present exactly when the upstream returns it.
const BASE_FIELDS = [
  ["parentHash", "data"],
  ["sha3Uncles", "data"],
  ["miner", "data"],
  ["stateRoot", "data"],
  ["transactionsRoot", "data"],
  ["receiptsRoot", "data"],
  ["logsBloom", "data"],
  ["difficulty", "int"],
  ["number", "int"],
  ["gasLimit", "int"],
  ["gasUsed", "int"],
  ["timestamp", "int"],
  ["extraData", "data"],
  ["mixHash", "data"],
  ["nonce", "data"],
] as const;

const FORK_FIELDS = [
  ["baseFeePerGas", "int"],
  ["withdrawalsRoot", "data"],
  ["blobGasUsed", "int"],
  ["excessBlobGas", "int"],
  ["parentBeaconBlockRoot", "data"],
  ["requestsHash", "data"],
] as const;

function intToRlpHex(q: string): ViemHex {
  const v = BigInt(q);
  if (v === 0n) return "0x";
  const h = v.toString(16);
  return `0x${h.length % 2 ? `0${h}` : h}`;
}

/**
 * Recomputes a block's hash from its header fields as the upstream returned them:
 * keccak256(rlp(header)) per the Yellow Paper and EIPs 1559, 4895, 4844, 4788 and 7685.
 */
export function computeBlockHash(block: RpcBlock): ViemHex {
  return keccak256(encodeHeader(block));
}

/** The header's RLP encoding (what its hash is taken of), from its fields as the upstream returned them. */
export function encodeHeader(block: RpcBlock): ViemHex {
  const items: ViemHex[] = [];
  for (const [name, kind] of BASE_FIELDS) {
    const v = block[name];
    if (typeof v !== "string") {
      throw new BundleError("BUNDLE_FORMAT", `block header has no ${name}`, { field: name });
    }
    items.push(kind === "int" ? intToRlpHex(v) : (v as ViemHex));
  }
  // Fork fields are positional: once one is missing, no later one may be present.
  let ended = false;
  for (const [name, kind] of FORK_FIELDS) {
    const v = block[name];
    if (v === undefined || v === null) {
      ended = true;
      continue;
    }
    if (ended || typeof v !== "string") {
      throw new BundleError("BUNDLE_FORMAT", `block header field ${name} out of place`, { field: name });
    }
    items.push(kind === "int" ? intToRlpHex(v) : (v as ViemHex));
  }
  return toRlp(items);
}
