/** Hex helpers for the JSON-RPC quantity and data encodings (EIP-1474). */
export type Hex = `0x${string}`;

/** Encodes a non-negative integer as a JSON-RPC QUANTITY ("0x0", "0x1a"). */
export function toQuantity(n: number | bigint): Hex {
  return `0x${n.toString(16)}`;
}

/** Decodes a QUANTITY to a number (heights, indexes, gas fit in 2^53). */
export function quantityToNumber(q: string): number {
  return Number.parseInt(q, 16);
}

/** Decodes a QUANTITY to a bigint. */
export function quantityToBigInt(q: string): bigint {
  return BigInt(q);
}

/** Zero-pads hex data to `bytes` bytes ("0x1" → "0x00…01"). */
export function padHex(h: string, bytes: number): Hex {
  return `0x${h.slice(2).padStart(bytes * 2, "0")}`;
}

/** Lower-cases an address or hash. */
export function lower(h: string): Hex {
  return h.toLowerCase() as Hex;
}

/** Converts hex data to bytes. */
export function hexToBuf(h: string): Buffer {
  return Buffer.from(h.startsWith("0x") ? h.slice(2) : h, "hex");
}

/** Converts bytes to hex data. */
export function bufToHex(b: Uint8Array): Hex {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")}`;
}
