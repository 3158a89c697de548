import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { BundleError } from "./errors.ts";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** sha256 of bytes, hex without 0x. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Serialises a value as gzip-compressed JSON. */
export async function encodeJsonGz(value: unknown): Promise<Buffer> {
  return gzipAsync(Buffer.from(JSON.stringify(value)), { level: 6 });
}

/** Parses gzip-compressed JSON, failing with BUNDLE_FORMAT on anything malformed. */
export async function decodeJsonGz<T>(data: Uint8Array, what: string): Promise<T> {
  try {
    return JSON.parse((await gunzipAsync(data)).toString("utf8")) as T;
  } catch (err) {
    throw new BundleError("BUNDLE_FORMAT", `${what} is not valid gzip JSON`, { what }, { cause: err });
  }
}
