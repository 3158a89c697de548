/**
 * The chain's history as e2store "ere" files (`eth-clients/e2store-format-specs`, `formats/ere.md`),
 * the files other clients import history from:
 *
 *     ere := Version | CompressedHeader+ | CompressedBody+ | CompressedSlimReceipts+ | DynamicBlockIndex
 *
 * with headers `snappyFramed(rlp(header))`, bodies `snappyFramed(rlp([txs, uncles, withdrawals?]))`,
 * receipts `snappyFramed(rlp([[tx-type, status, cumulative-gas, logs], …]))` (no blooms), and the
 * index `starting-number | (header, body, receipts offsets relative to the index record)* | 3 | count`,
 * every value a little-endian 64-bit word. At most 8192 blocks per file, aligned to eras of 8192;
 * profile `noproofs` (no `Proof` entries: chainkeep's chains have no beacon proofs), named
 * `<network>-<era, 5 digits>-<first 4 bytes of the last block's hash>-noproofs.ere`.
 *
 * `verifyEreFile` re-reads a file from its bytes alone: record types and order, the index, every
 * block hash (keccak of the header's RLP), the transactions, receipts and withdrawals roots, the
 * ommers hash, the logs bloom, the parent links, and the name.
 */
import { createHash } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { RLP } from "@ethereumjs/rlp";
import { Bloom } from "@ethereumjs/vm";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes } from "viem";
import {
  BundleError,
  encodeHeader,
  encodeTransaction,
  orderedTrieRoot,
  type RpcBlock,
  type RpcReceipt,
} from "../format/index.ts";
import type { Hex } from "../util/hex.ts";
import { e2Record, readE2Records, snappyFrame, snappyUnframe } from "./e2store.ts";

/** The record types of an ere file. */
export const ERE_TYPE = {
  version: 0x6532,
  header: 0x0300,
  body: 0x0400,
  slimReceipts: 0x0a00,
  index: 0x6732,
} as const;

/** Blocks per era, and at most per file. */
export const ERE_BLOCKS = 8192;

/** A block to export: the block with full transactions and its receipts. */
export interface ExportBlock {
  block: RpcBlock;
  receipts: RpcReceipt[];
}

const EMPTY = new Uint8Array();

function quantity(q: unknown): Uint8Array {
  const v = BigInt(q as string);
  if (v === 0n) return EMPTY;
  const h = v.toString(16);
  return hexToBytes(`0x${h.length % 2 ? `0${h}` : h}`);
}

type Nested = Uint8Array | Nested[];

/** `rlp([transactions, uncles, withdrawals?])`: typed transactions as byte strings, legacy ones as lists. */
export function encodeBody(block: RpcBlock): Uint8Array {
  const uncles = (block.uncles as unknown[] | undefined) ?? [];
  if (uncles.length > 0) {
    throw new BundleError(
      "BUNDLE_FORMAT",
      `block ${block.number} has uncles, whose headers a replica does not hold`,
      {
        block: block.hash,
      },
    );
  }
  const txs: Nested[] = block.transactions.map((tx) => {
    const enc = encodeTransaction(tx);
    return (enc[0] as number) >= 0xc0 ? (RLP.decode(enc) as Nested) : enc;
  });
  const body: Nested[] = [txs, []];
  const ws = block.withdrawals as
    | { index: Hex; validatorIndex: Hex; address: Hex; amount: Hex }[]
    | undefined;
  if (ws !== undefined) {
    body.push(
      ws.map((w) => [
        quantity(w.index),
        quantity(w.validatorIndex),
        hexToBytes(w.address),
        quantity(w.amount),
      ]),
    );
  }
  return RLP.encode(body);
}

/** `rlp([[tx-type, status, cumulative-gas, logs], …])`: the receipts without their blooms. */
export function encodeSlimReceipts(receipts: RpcReceipt[]): Uint8Array {
  return RLP.encode(
    receipts.map((r) => [
      quantity(r.type ?? "0x0"),
      r.status !== undefined ? quantity(r.status) : hexToBytes(r.root as Hex),
      quantity(r.cumulativeGasUsed),
      r.logs.map((l) => [hexToBytes(l.address), l.topics.map((t) => hexToBytes(t)), hexToBytes(l.data)]),
    ]),
  );
}

/** The file name of blocks `[first, …]` whose last block hash is `lastHash`. */
export function ereFileName(network: string, first: number, lastHash: string): string {
  const era = String(Math.floor(first / ERE_BLOCKS)).padStart(5, "0");
  return `${network}-${era}-${lastHash.slice(2, 10).toLowerCase()}-noproofs.ere`;
}

/** One ere file of consecutive blocks of one era. */
export function buildEreFile(blocks: ExportBlock[], network: string): { name: string; bytes: Uint8Array } {
  const first = blocks[0];
  const last = blocks[blocks.length - 1];
  if (!first || !last) throw new BundleError("BUNDLE_FORMAT", "an ere file needs at least one block");
  const start = Number(first.block.number);
  const records: Uint8Array[] = [e2Record(ERE_TYPE.version, EMPTY)];
  let offset = 8;
  const offsets = blocks.map(() => [0, 0, 0]);
  const add = (i: number, part: number, rec: Uint8Array) => {
    (offsets[i] as number[])[part] = offset;
    records.push(rec);
    offset += rec.length;
  };
  for (const [i, b] of blocks.entries()) {
    if (Number(b.block.number) !== start + i) {
      throw new BundleError("BUNDLE_FORMAT", `ere file: block ${b.block.number} out of sequence`);
    }
    add(i, 0, e2Record(ERE_TYPE.header, snappyFrame(hexToBytes(encodeHeader(b.block)))));
  }
  for (const [i, b] of blocks.entries()) add(i, 1, e2Record(ERE_TYPE.body, snappyFrame(encodeBody(b.block))));
  for (const [i, b] of blocks.entries()) {
    add(i, 2, e2Record(ERE_TYPE.slimReceipts, snappyFrame(encodeSlimReceipts(b.receipts))));
  }
  const index = new Uint8Array(8 + blocks.length * 3 * 8 + 16);
  const v = new DataView(index.buffer);
  v.setBigUint64(0, BigInt(start), true);
  for (const [i, o] of offsets.entries()) {
    for (const [part, at] of o.entries()) v.setBigInt64(8 + (i * 3 + part) * 8, BigInt(at - offset), true);
  }
  v.setBigUint64(index.length - 16, 3n, true);
  v.setBigUint64(index.length - 8, BigInt(blocks.length), true);
  records.push(e2Record(ERE_TYPE.index, index));
  return { name: ereFileName(network, start, last.block.hash), bytes: Buffer.concat(records) };
}

/** What {@link exportEre} wrote. */
export interface EreExportReport {
  files: { name: string; from: number; to: number; bytes: number; sha256: string }[];
  blocks: number;
  bytes: number;
  ms: number;
}

/**
 * One ere file written as blocks arrive, one block in memory at a time: headers go to the file,
 * bodies and receipts to two temporary files beside it (the format wants every header, then every
 * body, then every receipts record); `finish` appends them and the index, fsyncs and renames the
 * file into place. The bytes are those of {@link buildEreFile}.
 */
class EreFileWriter {
  private readonly hash = createHash("sha256");
  private headerBytes = 8;
  private bodyBytes = 0;
  private receiptBytes = 0;
  private readonly offsets: [number, number, number][] = [];
  private first = -1;
  private lastHash = "";

  private constructor(
    private readonly dir: string,
    private readonly main: FileHandle,
    private readonly bodies: FileHandle,
    private readonly receipts: FileHandle,
    private readonly tag: string,
  ) {}

  static async open(dir: string): Promise<EreFileWriter> {
    const tag = `.partial-${process.pid}-${Date.now()}`;
    const [main, bodies, receipts] = await Promise.all(
      ["main", "bodies", "receipts"].map((n) => open(join(dir, `${tag}.${n}`), "w+")),
    );
    const w = new EreFileWriter(dir, main as FileHandle, bodies as FileHandle, receipts as FileHandle, tag);
    await w.write(w.main, e2Record(ERE_TYPE.version, EMPTY));
    return w;
  }

  get count(): number {
    return this.offsets.length;
  }

  private async write(fh: FileHandle, bytes: Uint8Array): Promise<void> {
    await fh.write(bytes);
  }

  async add(b: ExportBlock): Promise<void> {
    const number = Number(b.block.number);
    if (this.first < 0) this.first = number;
    else if (number !== this.first + this.offsets.length) {
      throw new BundleError("BUNDLE_FORMAT", `ere file: block ${b.block.number} out of sequence`);
    }
    const header = e2Record(ERE_TYPE.header, snappyFrame(hexToBytes(encodeHeader(b.block))));
    const body = e2Record(ERE_TYPE.body, snappyFrame(encodeBody(b.block)));
    const receipts = e2Record(ERE_TYPE.slimReceipts, snappyFrame(encodeSlimReceipts(b.receipts)));
    // Body and receipts offsets are relative to their temporary files until the headers are done.
    this.offsets.push([this.headerBytes, this.bodyBytes, this.receiptBytes]);
    await this.write(this.main, header);
    await this.write(this.bodies, body);
    await this.write(this.receipts, receipts);
    this.headerBytes += header.length;
    this.bodyBytes += body.length;
    this.receiptBytes += receipts.length;
    this.lastHash = b.block.hash;
  }

  /** Appends bodies, receipts and the index; returns the file's name and size. */
  async finish(network: string): Promise<{ name: string; bytes: number; sha256: string }> {
    const bodiesAt = this.headerBytes;
    const receiptsAt = bodiesAt + this.bodyBytes;
    const indexAt = receiptsAt + this.receiptBytes;
    for (const [fh, size] of [
      [this.bodies, this.bodyBytes],
      [this.receipts, this.receiptBytes],
    ] as const) {
      const buf = Buffer.alloc(1 << 20);
      for (let at = 0; at < size; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
        await this.main.write(buf.subarray(0, bytesRead));
        at += bytesRead;
      }
    }
    const index = new Uint8Array(8 + this.offsets.length * 3 * 8 + 16);
    const v = new DataView(index.buffer);
    v.setBigUint64(0, BigInt(this.first), true);
    for (const [i, [h, b, r]] of this.offsets.entries()) {
      v.setBigInt64(8 + i * 24, BigInt(h - indexAt), true);
      v.setBigInt64(16 + i * 24, BigInt(bodiesAt + b - indexAt), true);
      v.setBigInt64(24 + i * 24, BigInt(receiptsAt + r - indexAt), true);
    }
    v.setBigUint64(index.length - 16, 3n, true);
    v.setBigUint64(index.length - 8, BigInt(this.offsets.length), true);
    await this.main.write(e2Record(ERE_TYPE.index, index));
    await this.main.sync();
    // The sha256 of what was written, read back.
    const total = indexAt + 8 + index.length;
    const buf = Buffer.alloc(1 << 20);
    for (let at = 0; at < total; ) {
      const { bytesRead } = await this.main.read(buf, 0, Math.min(buf.length, total - at), at);
      this.hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    await this.close();
    const name = ereFileName(network, this.first, this.lastHash);
    await rename(join(this.dir, `${this.tag}.main`), join(this.dir, name));
    return { name, bytes: total, sha256: this.hash.digest("hex") };
  }

  async close(): Promise<void> {
    await Promise.all([this.main.close(), this.bodies.close(), this.receipts.close()]).catch(() => {});
    await Promise.all(
      ["bodies", "receipts"].map((n) => rm(join(this.dir, `${this.tag}.${n}`), { force: true })),
    );
  }
}

/**
 * Writes ere files for the blocks `source` yields (in height order), one per era, into `out`,
 * streaming (one block in memory at a time): each is written under a temporary name, fsynced and
 * renamed, so a file that is there is whole.
 */
export async function exportEre(
  source: AsyncIterable<ExportBlock[]>,
  opts: { out: string; network: string },
): Promise<EreExportReport> {
  const started = Date.now();
  await mkdir(opts.out, { recursive: true });
  const report: EreExportReport = { files: [], blocks: 0, bytes: 0, ms: 0 };
  let file: EreFileWriter | undefined;
  let era = -1;
  let from = 0;
  const flush = async () => {
    if (!file) return;
    const count = file.count;
    const done = await file.finish(opts.network);
    report.files.push({
      name: done.name,
      from,
      to: from + count - 1,
      bytes: done.bytes,
      sha256: done.sha256,
    });
    report.blocks += count;
    report.bytes += done.bytes;
    file = undefined;
  };
  try {
    for await (const batch of source) {
      for (const b of batch) {
        const h = Number(b.block.number);
        if (file && Math.floor(h / ERE_BLOCKS) !== era) await flush();
        if (!file) {
          file = await EreFileWriter.open(opts.out);
          era = Math.floor(h / ERE_BLOCKS);
          from = h;
        }
        await file.add(b);
      }
    }
    await flush();
  } catch (err) {
    await file?.close();
    throw err;
  }
  report.ms = Date.now() - started;
  return report;
}

/** What {@link verifyEreFile} found. */
export interface EreFileReport {
  file: string;
  from: number;
  to: number;
  lastHash: string;
  /** The parent hash of its first block (what the previous file's last block must hash to). */
  firstParentHash: string;
  transactions: number;
}

function fail(file: string, offset: number, message: string): never {
  throw new BundleError("BUNDLE_FORMAT", `${file} at offset ${offset}: ${message}`, { file, offset });
}

function decodeList(data: Uint8Array, file: string, offset: number, what: string): Nested[] {
  try {
    const v = RLP.decode(snappyUnframe(data, `${file} ${what}`)) as Nested;
    if (!Array.isArray(v)) fail(file, offset, `${what} is not an RLP list`);
    return v;
  } catch (err) {
    if (err instanceof BundleError && String(err.message).includes(file)) {
      throw new BundleError(err.code, `${err.message} (record at offset ${offset})`, { file, offset });
    }
    return fail(file, offset, `${what} does not decode (${(err as Error).message})`);
  }
}

function big(b: Nested | undefined): bigint {
  return b instanceof Uint8Array && b.length > 0 ? BigInt(bytesToHex(b)) : 0n;
}

function hex(b: Nested | undefined): string {
  return b instanceof Uint8Array ? bytesToHex(b) : "";
}

/**
 * Verifies one ere file from its bytes alone (see the module's comment); `parentHash`, the hash
 * of the block before its first, links it to the previous file. Throws BUNDLE_FORMAT or
 * BUNDLE_CHECKSUM naming the file and the offset of the first record that does not check out.
 */
export function verifyEreFile(bytes: Uint8Array, file: string, parentHash?: string): EreFileReport {
  const records = readE2Records(bytes, file);
  const version = records[0];
  if (!version || version.type !== ERE_TYPE.version || version.data.length !== 0)
    fail(file, 0, "no Version record first");
  const indexRec = records[records.length - 1] as (typeof records)[number];
  if (indexRec.type !== ERE_TYPE.index) fail(file, indexRec.offset, "the last record is not the block index");
  const iv = new DataView(indexRec.data.buffer, indexRec.data.byteOffset, indexRec.data.byteLength);
  if (indexRec.data.length < 24) fail(file, indexRec.offset, "block index too short");
  const start = Number(iv.getBigUint64(0, true));
  const count = Number(iv.getBigUint64(indexRec.data.length - 8, true));
  const parts = Number(iv.getBigUint64(indexRec.data.length - 16, true));
  if (
    parts < 2 ||
    parts > 5 ||
    indexRec.data.length !== 8 + count * parts * 8 + 16 ||
    count < 1 ||
    count > ERE_BLOCKS
  ) {
    fail(file, indexRec.offset, `block index inconsistent (count ${count}, components ${parts})`);
  }
  if (Math.floor(start / ERE_BLOCKS) !== Math.floor((start + count - 1) / ERE_BLOCKS)) {
    fail(file, indexRec.offset, "the file spans two eras");
  }
  const byOffset = new Map(records.map((r) => [r.offset, r]));
  const at = (i: number, part: number, type: number, what: string) => {
    const rel = iv.getBigInt64(8 + (i * parts + part) * 8, true);
    const off = indexRec.offset + Number(rel);
    const r = byOffset.get(off);
    if (!r || r.type !== type)
      fail(file, indexRec.offset, `index entry of block ${start + i} ${what} does not point at one`);
    return r;
  };
  // Record order: headers, then bodies, then receipts, as the index says.
  const expectOrder = [ERE_TYPE.header, ERE_TYPE.body, ERE_TYPE.slimReceipts];
  let k = 1;
  for (const type of expectOrder.slice(0, Math.min(parts, 3))) {
    for (let i = 0; i < count; i++, k++) {
      const r = records[k];
      if (!r || r.type !== type)
        fail(file, r?.offset ?? bytes.length, `record ${k} is not of type ${type.toString(16)}`);
    }
  }
  let parent = parentHash;
  let lastHash = "";
  let firstParentHash = "";
  let transactions = 0;
  for (let i = 0; i < count; i++) {
    const number = start + i;
    const hr = at(i, 0, ERE_TYPE.header, "header");
    const header = decodeList(hr.data, file, hr.offset, `header of block ${number}`);
    const headerRlp = RLP.encode(header);
    const hash = bytesToHex(keccak_256(headerRlp));
    if (big(header[8]) !== BigInt(number))
      fail(file, hr.offset, `header of block ${number} has number ${big(header[8])}`);
    if (i === 0) firstParentHash = hex(header[0]);
    if (parent !== undefined && hex(header[0]) !== parent)
      fail(file, hr.offset, `block ${number} does not link to its parent`);
    const br = at(i, 1, ERE_TYPE.body, "body");
    const body = decodeList(br.data, file, br.offset, `body of block ${number}`);
    const txs = (body[0] ?? []) as Nested[];
    const txEnc = txs.map((t) => (t instanceof Uint8Array ? t : RLP.encode(t)));
    if (orderedTrieRoot(txEnc) !== hex(header[4]))
      fail(file, br.offset, `transactions of block ${number} do not match its transactionsRoot`);
    if (bytesToHex(keccak_256(RLP.encode((body[1] ?? []) as Nested))) !== hex(header[1])) {
      fail(file, br.offset, `uncles of block ${number} do not match its ommers hash`);
    }
    if (header.length > 16) {
      const ws = (body[2] ?? []) as Nested[];
      if (orderedTrieRoot(ws.map((w) => RLP.encode(w))) !== hex(header[16])) {
        fail(file, br.offset, `withdrawals of block ${number} do not match its withdrawalsRoot`);
      }
    }
    if (parts >= 3) {
      const rr = at(i, 2, ERE_TYPE.slimReceipts, "receipts");
      const slim = decodeList(rr.data, file, rr.offset, `receipts of block ${number}`);
      if (slim.length !== txs.length)
        fail(file, rr.offset, `block ${number}: ${slim.length} receipts for ${txs.length} transactions`);
      const all = new Bloom();
      const full = slim.map((r) => {
        const [type, status, gas, logs] = r as Nested[];
        const bloom = new Bloom();
        for (const l of (logs ?? []) as Nested[][]) {
          bloom.add(l[0] as Uint8Array);
          for (const t of (l[1] ?? []) as Uint8Array[]) bloom.add(t);
        }
        all.or(bloom);
        const enc = RLP.encode([
          status as Uint8Array,
          gas as Uint8Array,
          bloom.bitvector,
          (logs ?? []) as Nested[],
        ]);
        const t = Number(big(type));
        return t === 0 ? enc : Uint8Array.from([t, ...enc]);
      });
      if (orderedTrieRoot(full) !== hex(header[5]))
        fail(file, rr.offset, `receipts of block ${number} do not match its receiptsRoot`);
      if (bytesToHex(all.bitvector) !== hex(header[6]))
        fail(file, rr.offset, `logs of block ${number} do not match its bloom`);
    }
    parent = hash;
    lastHash = hash;
    transactions += txs.length;
  }
  const m = /^(.+)-(\d{5})-([0-9a-f]{8})(-[a-z-]+)?\.ere$/.exec(file.split("/").pop() ?? file);
  if (!m || Number(m[2]) !== Math.floor(start / ERE_BLOCKS) || m[3] !== lastHash.slice(2, 10)) {
    fail(
      file,
      0,
      `the name does not match era ${Math.floor(start / ERE_BLOCKS)} and last hash ${lastHash.slice(0, 10)}`,
    );
  }
  return { file, from: start, to: start + count - 1, lastHash, firstParentHash, transactions };
}

/** Verifies every `.ere` file of `dir`, in era order, linked across files. */
export async function verifyEreDir(
  dir: string,
): Promise<{ files: EreFileReport[]; errors: { file: string; error: string }[] }> {
  const names = (await readdir(dir))
    .filter((n) => n.endsWith(".ere"))
    .sort((a, b) => {
      const era = (n: string) => Number(/-(\d{5})-[0-9a-f]{8}/.exec(n)?.[1] ?? -1);
      return era(a) - era(b);
    });
  const files: EreFileReport[] = [];
  const errors: { file: string; error: string }[] = [];
  let prev: EreFileReport | undefined;
  for (const name of names) {
    try {
      const r = verifyEreFile(await readFile(join(dir, name)), name);
      if (prev && r.from === prev.to + 1 && r.firstParentHash !== prev.lastHash) {
        fail(name, 0, `its first block ${r.from} does not link to ${prev.file}'s last`);
      }
      files.push(r);
      prev = r;
    } catch (err) {
      errors.push({ file: name, error: (err as Error).message });
      prev = undefined;
    }
  }
  return { files, errors };
}
