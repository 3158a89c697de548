/**
 * zod schemas of the JSON-RPC parameter types (EIP-1474 encodings), shared by the methods. Each
 * validates and normalises (lower-case hex, parsed numbers) and fails with a "must be …" message
 * that the dispatcher prefixes with the parameter's position and name.
 */
import { z } from "zod";
import type { Hex } from "../util/hex.ts";
import type { BlockSpec, BlockTag, NumberOrTag } from "./block.ts";

const U64_MAX = 2n ** 64n - 1n;
const U256_MAX = 2n ** 256n - 1n;
const TAGS: ReadonlySet<string> = new Set(["latest", "pending", "safe", "finalized", "earliest"]);
const ADDRESS_RE = /^(0x)?[0-9a-fA-F]{40}$/;
const HASH_RE = /^0x[0-9a-fA-F]{64}$/;
const HEX_RE = /^0x[0-9a-fA-F]+$/;
const DATA_RE = /^0x(?:[0-9a-fA-F]{2})*$/;
const DEC_RE = /^[0-9]+$/;

/** Thrown by a leaf parser; becomes a zod issue with this message. */
class Invalid {
  constructor(readonly message: string) {}
}

const leafParsers = new WeakMap<z.ZodType, (v: unknown) => unknown>();

/** A zod schema from a parse function that throws `Invalid` on bad input. */
function leaf<T>(parse: (v: unknown) => T): z.ZodType<T> {
  const schema = z.unknown().transform((v, ctx) => {
    try {
      return parse(v);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      ctx.addIssue({ code: "custom", message: err.message });
      return z.NEVER;
    }
  }) as unknown as z.ZodType<T>;
  leafParsers.set(schema, parse);
  return schema;
}

/**
 * A fast validator equivalent to `schema` (its parse function for leaf schemas, zod otherwise),
 * returning `FAILED` instead of a message; parameters are validated with it first, and with zod
 * only to word the error when it fails.
 */
export function fastValidator(schema: z.ZodType): (v: unknown) => unknown {
  const parse = leafParsers.get(schema);
  if (parse) {
    return (v) => {
      try {
        return parse(v);
      } catch (err) {
        if (err instanceof Invalid) return FAILED;
        throw err;
      }
    };
  }
  return (v) => {
    const r = schema.safeParse(v);
    return r.success ? r.data : FAILED;
  };
}

/** What a fast validator returns for invalid input. */
export const FAILED: unique symbol = Symbol("invalid");

function parseAddress(v: unknown): Hex {
  if (typeof v !== "string" || !ADDRESS_RE.test(v)) throw new Invalid("must be a 20-byte hex address");
  return `0x${v.slice(-40).toLowerCase()}`;
}

function parseHash(v: unknown): Hex {
  if (typeof v !== "string" || !HASH_RE.test(v)) throw new Invalid("must be a 32-byte hex hash");
  return v.toLowerCase() as Hex;
}

function parseTag(v: string): BlockTag | undefined {
  const t = v.toLowerCase();
  return TAGS.has(t) ? (t as BlockTag) : undefined;
}

// A block number as a hex QUANTITY (leading zeros tolerated) up to 2^64 − 1.
function parseHexU64(v: string, what: string): number {
  if (!HEX_RE.test(v)) throw new Invalid(`must be ${what}`);
  const n = BigInt(v);
  if (n > U64_MAX) throw new Invalid(`must be ${what} (number too large)`);
  return Number(n);
}

const NUMBER_OR_TAG = "a block number (hex) or a block tag (latest, pending, safe, finalized, earliest)";
const BLOCK_ID = `${NUMBER_OR_TAG}, a block hash, or an EIP-1898 object {blockHash, requireCanonical?} / {blockNumber}`;

function parseNumberOrTag(v: unknown, allowDecimal: boolean): NumberOrTag {
  if (typeof v === "string") {
    const tag = parseTag(v);
    if (tag) return { kind: "tag", tag };
    if (allowDecimal && DEC_RE.test(v)) {
      const n = BigInt(v);
      if (n > U64_MAX) throw new Invalid(`must be ${NUMBER_OR_TAG} (number too large)`);
      return { kind: "number", number: Number(n) };
    }
    return { kind: "number", number: parseHexU64(v, NUMBER_OR_TAG) };
  }
  if (allowDecimal && typeof v === "number" && Number.isSafeInteger(v) && v >= 0)
    return { kind: "number", number: v };
  throw new Invalid(`must be ${NUMBER_OR_TAG}`);
}

function parseBlockId(v: unknown): BlockSpec {
  if (v === null || v === undefined) return { kind: "tag", tag: "latest" };
  if (typeof v === "string") {
    if (v.length === 66 && HASH_RE.test(v))
      return { kind: "hash", hash: v.toLowerCase() as Hex, requireCanonical: false };
    const tag = parseTag(v);
    if (tag) return { kind: "tag", tag };
    return { kind: "number", number: parseHexU64(v, BLOCK_ID) };
  }
  if (typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== "blockHash" && k !== "blockNumber" && k !== "requireCanonical") {
        throw new Invalid(`must be ${BLOCK_ID}: unknown field ${k}`);
      }
    }
    if (o.blockHash !== undefined && o.blockNumber !== undefined) {
      throw new Invalid(`must be ${BLOCK_ID}: not both blockHash and blockNumber`);
    }
    if (o.blockHash !== undefined) {
      if (o.requireCanonical !== undefined && typeof o.requireCanonical !== "boolean") {
        throw new Invalid(`must be ${BLOCK_ID}: requireCanonical must be a boolean`);
      }
      if (typeof o.blockHash !== "string" || !HASH_RE.test(o.blockHash)) {
        throw new Invalid(`must be ${BLOCK_ID}: blockHash must be a 32-byte hex hash`);
      }
      return {
        kind: "hash",
        hash: o.blockHash.toLowerCase() as Hex,
        requireCanonical: o.requireCanonical === true,
      };
    }
    if (
      o.blockNumber !== undefined &&
      o.requireCanonical === undefined &&
      typeof o.blockNumber === "string"
    ) {
      return parseNumberOrTag(o.blockNumber, false);
    }
  }
  throw new Invalid(`must be ${BLOCK_ID}`);
}

// A non-negative integer: hex QUANTITY, decimal string or JSON number (the upstream accepts all).
function parseUint(v: unknown, max: bigint, what: string): bigint {
  let n: bigint | undefined;
  if (typeof v === "string") {
    if (HEX_RE.test(v)) n = BigInt(v);
    else if (DEC_RE.test(v)) n = BigInt(v);
  } else if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) {
    n = BigInt(v);
  }
  if (n === undefined) throw new Invalid(`must be ${what}`);
  if (n > max) throw new Invalid(`must be ${what} (number too large)`);
  return n;
}

/** A 20-byte address (the `0x` prefix may be omitted); normalised to lower case with `0x`. */
export const address = leaf(parseAddress);

/** A 32-byte hash; normalised to lower case. */
export const hash = leaf(parseHash);

/** Hex-encoded bytes (DATA), even length. */
export const data = leaf((v): Hex => {
  if (typeof v !== "string" || !DATA_RE.test(v))
    throw new Invalid("must be hex-encoded bytes (0x-prefixed, even length)");
  return v as Hex;
});

/** A JSON boolean. */
export const bool = leaf((v): boolean => {
  if (typeof v !== "boolean") throw new Invalid("must be a boolean");
  return v;
});

/** A block number or tag (eth_getBlockByNumber and friends); decimal strings and JSON numbers too. */
export const blockNumberOrTag = leaf((v) => parseNumberOrTag(v, true));

/** A block number, tag, hash or EIP-1898 object (state methods); null means `latest`. */
export const blockId = leaf(parseBlockId);

/** A transaction index within a block: hex QUANTITY, decimal string or JSON number. */
export const txIndex = leaf((v): number =>
  Number(parseUint(v, U64_MAX, "a transaction index (hex quantity)")),
);

/** A storage slot (up to 2^256 − 1); normalised to a 32-byte lower-case word. */
export const storageSlot = leaf((v): Hex => {
  const n = parseUint(v, U256_MAX, "a storage slot (hex quantity up to 32 bytes)");
  return `0x${n.toString(16).padStart(64, "0")}`;
});

/** A block count (eth_feeHistory): hex QUANTITY, decimal string or JSON number. */
export const blockCount = leaf((v): bigint => parseUint(v, U256_MAX, "a block count (hex quantity)"));

/** Reward percentiles (eth_feeHistory). */
export const percentiles = leaf((v): number[] => {
  if (!Array.isArray(v) || !v.every((p) => typeof p === "number" && Number.isFinite(p))) {
    throw new Invalid("must be an array of percentiles (numbers)");
  }
  return v as number[];
});

/** The upper bound of topic positions in a log filter. */
export const MAX_TOPICS = 4;

const topicPosition = leaf((v): Hex[] | null => {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) {
    const out: Hex[] = [];
    for (const t of v) {
      if (t === null) return null;
      if (typeof t !== "string" || !HASH_RE.test(t))
        throw new Invalid("must be null, a 32-byte topic or an array of them");
      out.push(t.toLowerCase() as Hex);
    }
    // An empty OR-list matches any topic, as the upstream treats it.
    return out.length === 0 ? null : out;
  }
  if (typeof v !== "string" || !HASH_RE.test(v))
    throw new Invalid("must be null, a 32-byte topic or an array of them");
  return [v.toLowerCase() as Hex];
});

const filterBlock = leaf((v): NumberOrTag | undefined => {
  if (v === null || v === undefined) return undefined;
  return parseNumberOrTag(v, false);
});

const addresses = leaf((v): Hex[] | undefined => {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v.map(parseAddress);
  return [parseAddress(v)];
});

/** The filter object of eth_getLogs (https://ethereum.org/developers/docs/apis/json-rpc#eth_getlogs). */
export const logFilter = z.strictObject({
  fromBlock: filterBlock.optional(),
  toBlock: filterBlock.optional(),
  blockHash: leaf((v): Hex | undefined =>
    v === null || v === undefined ? undefined : parseHash(v),
  ).optional(),
  address: addresses.optional(),
  topics: z
    .array(topicPosition)
    .max(MAX_TOPICS, { error: `must have at most ${MAX_TOPICS} topic positions` })
    .nullish(),
});

/** A parsed eth_getLogs filter. */
export type LogFilterParam = z.output<typeof logFilter>;

/** The filter of a `logs` subscription: addresses and topics; block fields are accepted and ignored. */
export const subscriptionFilter = logFilter;

const quantity = leaf((v): Hex => {
  if (typeof v !== "string" || !HEX_RE.test(v)) throw new Invalid("must be a hex quantity");
  return v as Hex;
});

const optionalAddress = leaf((v): Hex | null => (v === null ? null : parseAddress(v)));

/**
 * The transaction object of eth_call / eth_estimateGas (GenericTransaction of the execution-apis
 * spec). Known fields are type-checked; unknown fields pass through, as the upstream allows.
 */
export const callRequest = z.looseObject({
  type: quantity.nullish(),
  nonce: quantity.nullish(),
  from: optionalAddress.optional(),
  to: optionalAddress.optional(),
  gas: quantity.nullish(),
  gasPrice: quantity.nullish(),
  maxFeePerGas: quantity.nullish(),
  maxPriorityFeePerGas: quantity.nullish(),
  maxFeePerBlobGas: quantity.nullish(),
  value: quantity.nullish(),
  input: data.nullish(),
  data: data.nullish(),
  chainId: quantity.nullish(),
  accessList: z.array(z.unknown()).nullish(),
  blobVersionedHashes: z.array(z.unknown()).nullish(),
  authorizationList: z.array(z.unknown()).nullish(),
});

/** A parsed call request. */
export type CallRequestParam = z.output<typeof callRequest>;

/** State or block overrides of eth_call (objects; chainkeep forwards calls that carry any). */
export const overrides = z.record(z.string(), z.unknown()).nullish();

/** eth_subscribe's subscription kind. */
export const subscriptionKind = leaf((v): "newHeads" | "logs" => {
  if (v === "newHeads" || v === "logs") return v;
  throw new Invalid('must be "newHeads" or "logs"');
});

/** A subscription id. */
export const subscriptionId = leaf((v): string => {
  if (typeof v !== "string" || !HEX_RE.test(v)) throw new Invalid("must be a subscription id (hex)");
  return v.toLowerCase();
});
