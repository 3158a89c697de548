/**
 * Log filters (eth_getLogs and `logs` subscriptions): matching by address and topics, with the
 * upstream's semantics, and the logsBloom pre-check that skips blocks without candidates.
 */
import { keccak256 } from "viem";
import type { RpcLog } from "../format/index.ts";
import type { Hex } from "../util/hex.ts";
import type { BlockLogKeys, ChainView } from "../view/index.ts";
import { RpcError } from "./errors.ts";
import { JsonBytes } from "./protocol.ts";

/** Byte index and bit mask of one of a value's three bits in a 2048-bit logs bloom. */
type BloomBit = readonly [byteIndex: number, mask: number];

/** A compiled address/topic filter. */
export interface CompiledFilter {
  /** Lower-case addresses; undefined matches any address. */
  addresses: ReadonlySet<string> | undefined;
  /** Per topic position, the accepted lower-case topics; undefined is a wildcard. */
  topics: (ReadonlySet<string> | undefined)[];
  /** Bloom bits: any one value's bits must all be set, for the address set and each topic set. */
  bloomGroups: BloomBit[][][];
}

// The three bloom bits of a value (Yellow Paper, M3:2048): the low 11 bits of the first three
// byte pairs of keccak256(value), counted from the end of the 256-byte bloom.
function bloomBits(value: Hex): BloomBit[] {
  const h = keccak256(value).slice(2);
  const bits: BloomBit[] = [];
  for (let i = 0; i < 6; i += 2) {
    const bit = Number.parseInt(h.slice(i * 2, i * 2 + 4), 16) & 2047;
    bits.push([255 - (bit >> 3), 1 << (bit & 7)]);
  }
  return bits;
}

/** Compiles a filter; empty address or topic lists match anything, as the upstream treats them. */
export function compileFilter(
  address: Hex[] | undefined,
  topics: (Hex[] | null)[] | null | undefined,
): CompiledFilter {
  const addresses = address && address.length > 0 ? new Set(address.map((a) => a.toLowerCase())) : undefined;
  const topicSets = (topics ?? []).map((t) =>
    t && t.length > 0 ? new Set(t.map((x) => x.toLowerCase())) : undefined,
  );
  const bloomGroups: BloomBit[][][] = [];
  if (addresses) bloomGroups.push([...addresses].map((a) => bloomBits(a as Hex)));
  for (const set of topicSets) if (set) bloomGroups.push([...set].map((t) => bloomBits(t as Hex)));
  return { addresses, topics: topicSets, bloomGroups };
}

/** True when a block with this logsBloom may hold a matching log (false positives possible). */
export function bloomMayMatch(f: CompiledFilter, bloom: string | undefined): boolean {
  if (f.bloomGroups.length === 0 || bloom === undefined || bloom.length !== 514) return true;
  for (const group of f.bloomGroups) {
    let any = false;
    for (const bits of group) {
      let all = true;
      for (const [byte, mask] of bits) {
        const v = Number.parseInt(bloom.slice(2 + byte * 2, 4 + byte * 2), 16);
        if ((v & mask) === 0) {
          all = false;
          break;
        }
      }
      if (all) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

/**
 * True when `log` matches. A topic position beyond the log's topics matches only as a wildcard
 * (anvil's semantics: `[null, null, null]` matches a log with two topics).
 */
export function matchLog(f: CompiledFilter, log: RpcLog): boolean {
  if (f.addresses && !f.addresses.has(log.address.toLowerCase())) return false;
  const topics = f.topics;
  for (let i = 0; i < topics.length; i++) {
    const set = topics[i];
    if (!set) continue;
    const t = log.topics[i];
    if (t === undefined || !set.has(t.toLowerCase())) return false;
  }
  return true;
}

/**
 * True when a log with this address and these topics (both lower-case, as `BlockLogKeys` holds
 * them) matches: {@link matchLog} without lower-casing.
 */
export function matchKeys(f: CompiledFilter, address: string, topics: readonly string[]): boolean {
  if (f.addresses && !f.addresses.has(address)) return false;
  return matchTopics(f, topics);
}

/** True when lower-case `topics` match the filter's topic positions. */
export function matchTopics(f: CompiledFilter, topics: readonly string[]): boolean {
  const want = f.topics;
  for (let i = 0; i < want.length; i++) {
    const set = want[i];
    if (!set) continue;
    const t = topics[i];
    if (t === undefined || !set.has(t)) return false;
  }
  return true;
}

/** True when the filter constrains any topic position. */
export function hasTopics(f: CompiledFilter): boolean {
  return f.topics.some((t) => t !== undefined);
}

/** Most addresses in a filter for which the address index is used rather than a block scan. */
const MAX_INDEXED_ADDRESSES = 64;

const OPEN_BRACKET = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE_BRACKET = Buffer.from("]");

/**
 * The logs of blocks `from`..`to` (held, in order) that match `f`, as a JSON array in UTF-8
 * chunks. Logs are spliced from the view's ready-to-serve bytes where it has them; blocks are found
 * through the address index when the filter names addresses, otherwise by scanning with the
 * logsBloom pre-check. Throws RPC_LIMIT when more than `max` logs match.
 */
export function queryLogs(
  view: ChainView,
  f: CompiledFilter,
  from: number,
  to: number,
  max: number | undefined,
): JsonBytes {
  const chunks: Uint8Array[] = [OPEN_BRACKET];
  let count = 0;
  const topics = hasTopics(f);
  const push = (bytes: Uint8Array) => {
    if (count > 0) chunks.push(COMMA);
    count++;
    if (max !== undefined && count > max) {
      throw new RpcError("RPC_LIMIT", `query returned more than ${max} results`, { limit: max });
    }
    chunks.push(bytes);
  };
  // One block; `candidates`: indexes of the logs the address index found (ascending), if any.
  const block = (h: number, candidates: number[] | undefined) => {
    const text = view.blockLogText?.(h);
    const needKeys = candidates === undefined || topics;
    const keys = text && needKeys ? view.blockLogKeys?.(h) : undefined;
    if (text === undefined || (needKeys && keys === undefined)) {
      // No ready-to-serve bytes for this block: from the log objects.
      const logs = view.blockLogs(h);
      for (let i = 0; i < logs.length; i++) {
        const log = logs[i] as RpcLog;
        if ((candidates === undefined || candidates.includes(i)) && matchLog(f, log)) {
          push(Buffer.from(JSON.stringify(log)));
        }
      }
      return;
    }
    const { json, starts } = text;
    const emit = (i: number) => {
      const end = i + 1 < starts.length ? (starts[i + 1] as number) - 1 : json.length - 1;
      push(json.subarray(starts[i], end));
    };
    if (candidates !== undefined) {
      for (const i of candidates) if (!keys || matchTopics(f, keys.topics[i] ?? [])) emit(i);
      return;
    }
    const k = keys as BlockLogKeys;
    for (let i = 0; i < starts.length; i++) {
      if (matchKeys(f, k.addresses[i] as string, k.topics[i] ?? [])) emit(i);
    }
  };

  const indexed =
    f.addresses && f.addresses.size <= MAX_INDEXED_ADDRESSES
      ? indexedBlocks(view, f.addresses, from, to)
      : undefined;
  if (indexed !== undefined) {
    for (const [h, candidates] of indexed) block(h, candidates);
  } else {
    for (let h = from; h <= to; h++) {
      if (bloomMayMatch(f, view.logsBloom(h))) block(h, undefined);
    }
  }
  chunks.push(CLOSE_BRACKET);
  return new JsonBytes(chunks);
}

/**
 * The blocks in [from, to] with logs of any of `addresses`, ascending, with those logs' indexes
 * (ascending), from the view's address index; undefined when the view has none.
 */
function indexedBlocks(
  view: ChainView,
  addresses: ReadonlySet<string>,
  from: number,
  to: number,
): Iterable<[number, number[]]> | undefined {
  if (!view.logsByAddress) return undefined;
  if (addresses.size === 1) {
    const [a] = addresses as Set<string>;
    return view.logsByAddress(a as string, from, to);
  }
  const byHeight = new Map<number, number[]>();
  for (const a of addresses) {
    const rows = view.logsByAddress(a, from, to);
    if (rows === undefined) return undefined;
    for (const [h, idx] of rows) {
      const list = byHeight.get(h);
      if (list) list.push(...idx);
      else byHeight.set(h, [...idx]);
    }
  }
  const heights = [...byHeight.keys()].sort((x, y) => x - y);
  return heights.map((h) => [h, (byHeight.get(h) as number[]).sort((x, y) => x - y)] as [number, number[]]);
}
