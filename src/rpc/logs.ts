/**
 * Log filters (eth_getLogs and `logs` subscriptions): matching by address and topics, with the
 * upstream's semantics, and the logsBloom pre-check that skips blocks without candidates.
 */
import { keccak256 } from "viem";
import type { RpcLog } from "../format/types.ts";
import type { Hex } from "../util/hex.ts";

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
