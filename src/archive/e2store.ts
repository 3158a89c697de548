/**
 * e2store records and Snappy framing, as the e2store formats use them
 * (`eth-clients/e2store-format-specs`, nimbus-eth2 `docs/e2store.md`):
 * - a record is an 8-byte header (type: 2 bytes, data length: uint32 little-endian, reserved: 2
 *   zero bytes) and its data;
 * - `snappyFramed(x)` is the Snappy framing format: the stream identifier chunk, then chunks of at
 *   most 65,536 bytes of `x`, each Snappy-compressed (or stored) with the masked CRC-32C of its
 *   uncompressed bytes. Raw Snappy blocks come from `snappyjs`.
 */
import { compress, uncompress } from "snappyjs";
import { BundleError } from "../format/index.ts";

/** An e2store record: its type, its data, and where it starts in the file. */
export interface E2Record {
  type: number;
  data: Uint8Array;
  offset: number;
}

/** The record header: type (big-endian as written, e.g. 0x6532), length, reserved. */
export function e2Record(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out[0] = type >> 8;
  out[1] = type & 0xff;
  new DataView(out.buffer).setUint32(2, data.length, true);
  out.set(data, 8);
  return out;
}

/** Reads the records of an e2store file; BUNDLE_FORMAT naming the offset where it is cut or wrong. */
export function readE2Records(file: Uint8Array, name: string): E2Record[] {
  const out: E2Record[] = [];
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let at = 0;
  while (at < file.length) {
    if (at + 8 > file.length) {
      throw new BundleError("BUNDLE_FORMAT", `${name}: record header cut at offset ${at}`, {
        file: name,
        offset: at,
      });
    }
    const type = ((file[at] as number) << 8) | (file[at + 1] as number);
    const len = view.getUint32(at + 2, true);
    if (view.getUint16(at + 6, true) !== 0) {
      throw new BundleError("BUNDLE_FORMAT", `${name}: reserved bytes not zero at offset ${at}`, {
        file: name,
        offset: at,
      });
    }
    if (at + 8 + len > file.length) {
      throw new BundleError("BUNDLE_FORMAT", `${name}: record at offset ${at} runs past the end`, {
        file: name,
        offset: at,
      });
    }
    out.push({ type, data: file.subarray(at + 8, at + 8 + len), offset: at });
    at += 8 + len;
  }
  return out;
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of `data`. */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) c = (CRC32C_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The framing format's masked checksum of a chunk's uncompressed bytes. */
function maskedCrc(data: Uint8Array): number {
  const c = crc32c(data);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

const STREAM_ID = Uint8Array.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);
const CHUNK = 65_536;

/** `snappyFramed(data)`: the Snappy framing format. */
export function snappyFrame(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [STREAM_ID];
  for (let at = 0; at < data.length || (at === 0 && data.length === 0); at += CHUNK) {
    const piece = data.subarray(at, Math.min(data.length, at + CHUNK));
    const packed = compress(piece);
    const stored = packed.length >= piece.length;
    const body = stored ? piece : packed;
    const head = new Uint8Array(8);
    head[0] = stored ? 0x01 : 0x00;
    const len = body.length + 4;
    head[1] = len & 0xff;
    head[2] = (len >> 8) & 0xff;
    head[3] = (len >> 16) & 0xff;
    new DataView(head.buffer).setUint32(4, maskedCrc(piece), true);
    parts.push(head, body);
    if (data.length === 0) break;
  }
  return Buffer.concat(parts);
}

/** Decodes the Snappy framing format, checking every chunk's checksum. */
export function snappyUnframe(framed: Uint8Array, what: string): Uint8Array {
  const out: Uint8Array[] = [];
  let at = 0;
  let seenId = false;
  while (at < framed.length) {
    if (at + 4 > framed.length) throw new BundleError("BUNDLE_FORMAT", `${what}: snappy chunk header cut`);
    const type = framed[at] as number;
    const len =
      (framed[at + 1] as number) | ((framed[at + 2] as number) << 8) | ((framed[at + 3] as number) << 16);
    const body = framed.subarray(at + 4, at + 4 + len);
    if (body.length !== len) throw new BundleError("BUNDLE_FORMAT", `${what}: snappy chunk cut`);
    at += 4 + len;
    if (type === 0xff) {
      seenId = true;
      continue;
    }
    if (!seenId) throw new BundleError("BUNDLE_FORMAT", `${what}: no snappy stream identifier`);
    if (type === 0x00 || type === 0x01) {
      const crc = new DataView(body.buffer, body.byteOffset, 4).getUint32(0, true);
      let piece: Uint8Array;
      try {
        piece = type === 0x00 ? uncompress(body.subarray(4)) : body.subarray(4);
      } catch (err) {
        throw new BundleError(
          "BUNDLE_FORMAT",
          `${what}: snappy chunk does not decompress`,
          {},
          { cause: err },
        );
      }
      if (maskedCrc(piece) !== crc)
        throw new BundleError("BUNDLE_CHECKSUM", `${what}: snappy chunk checksum mismatch`);
      out.push(piece);
    } else if (type >= 0x02 && type <= 0x7f) {
      throw new BundleError("BUNDLE_FORMAT", `${what}: reserved unskippable snappy chunk ${type}`);
    }
  }
  return Buffer.concat(out);
}
