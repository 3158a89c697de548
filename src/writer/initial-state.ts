import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import type { StateDiff, StateDump } from "../format/index.ts";
import type { Upstream } from "../upstream/index.ts";
import { type Hex, hexToBuf, lower, padHex, toQuantity } from "../util/hex.ts";
import type { Logger } from "../util/logger.ts";

const gunzipAsync = promisify(gunzip);

interface AnvilDump {
  best_block_number?: number;
  accounts: Record<Hex, { nonce: number; balance: Hex; code: Hex; storage: Record<Hex, Hex> }>;
}

/**
 * Exports the upstream's whole state at its current head, when it can. Tries `anvil_dumpState`;
 * returns undefined when no export method works (the reader then forwards state questions about
 * never-touched accounts to the upstream).
 */
export async function exportHeadState(
  up: Upstream,
  deps: { logger: Logger },
): Promise<{ dump: StateDump; method: string } | undefined> {
  try {
    const raw = await up.request<Hex>("anvil_dumpState", []);
    let bytes = hexToBuf(raw);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = await gunzipAsync(bytes);
    const parsed = JSON.parse(bytes.toString("utf8")) as AnvilDump;
    if (typeof parsed.best_block_number !== "number") return undefined;
    const height = parsed.best_block_number;
    const block = await up.request<{ hash: Hex }>("eth_getBlockByNumber", [toQuantity(height), false]);
    const accounts: StateDump["accounts"] = {};
    for (const [addr, a] of Object.entries(parsed.accounts)) {
      const storage: Record<Hex, Hex> = {};
      // Slots set back to zero are kept: anvil's state root counts them (see `keepsZeroSlots`).
      for (const [k, v] of Object.entries(a.storage ?? {}))
        storage[padHex(lower(k), 32)] = padHex(lower(v), 32);
      accounts[lower(addr)] = {
        balance: toQuantity(BigInt(a.balance)),
        nonce: toQuantity(a.nonce),
        code: lower(a.code ?? "0x"),
        storage,
      };
    }
    return { dump: { height, blockHash: block.hash, accounts }, method: "anvil_dumpState" };
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, "upstream cannot export its state (anvil_dumpState)");
    return undefined;
  }
}

/** Rolls a state dump back through one block's diff: the result is the state before the block. */
export function rollBack(dump: StateDump, diff: StateDiff, codes: Record<Hex, Hex>): void {
  for (const [addr, { pre }] of Object.entries(diff.accounts) as [Hex, StateDiff["accounts"][Hex]][]) {
    const cur = dump.accounts[addr];
    if (!pre) {
      if (cur) delete dump.accounts[addr];
      continue;
    }
    const code = pre.codeHash in codes ? (codes[pre.codeHash] as Hex) : "0x";
    dump.accounts[addr] = { balance: pre.balance, nonce: pre.nonce, code, storage: cur?.storage ?? {} };
  }
  for (const [addr, slots] of Object.entries(diff.storage) as [Hex, Record<Hex, [Hex, Hex]>][]) {
    const acct = dump.accounts[addr];
    for (const [slot, [pre]] of Object.entries(slots) as [Hex, [Hex, Hex]][]) {
      if (!acct) continue;
      if (BigInt(pre) === 0n) delete acct.storage[slot];
      else acct.storage[slot] = pre;
    }
  }
}
