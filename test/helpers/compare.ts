/** Differential checks: a reader's answers against the upstream's, for every height. */
import assert from "node:assert/strict";
import { type JsonRpcCall, rpcBatch } from "./net.ts";

/** What {@link assertSameAnswers} compares, besides every block, its receipts and its logs. */
export interface CompareOptions {
  /** Highest height compared (from 0). */
  head: number;
  /** Accounts whose balance, nonce and code are compared at every height. */
  accounts: string[];
  /** Storage slots compared at every height. */
  slots?: [address: string, slot: string][];
  /** Requests per batch (default 400). */
  batch?: number;
}

const q = (h: number) => `0x${h.toString(16)}`;

/**
 * Asserts that the reader at `readerUrl` answers exactly as the upstream at `upstreamUrl` for
 * every height 0…head: the block with full transactions, its receipts, the balance, nonce and
 * code of each account, each storage slot, and eth_getLogs over the whole range. Responses are
 * compared whole (result or error), ids aside.
 */
export async function assertSameAnswers(
  readerUrl: string,
  upstreamUrl: string,
  opts: CompareOptions,
): Promise<void> {
  const calls: JsonRpcCall[] = [];
  for (let h = 0; h <= opts.head; h++) {
    calls.push({ method: "eth_getBlockByNumber", params: [q(h), true] });
    calls.push({ method: "eth_getBlockReceipts", params: [q(h)] });
    for (const a of opts.accounts) {
      calls.push({ method: "eth_getBalance", params: [a, q(h)] });
      calls.push({ method: "eth_getTransactionCount", params: [a, q(h)] });
      calls.push({ method: "eth_getCode", params: [a, q(h)] });
    }
    for (const [a, s] of opts.slots ?? []) calls.push({ method: "eth_getStorageAt", params: [a, s, q(h)] });
  }
  calls.push({ method: "eth_getLogs", params: [{ fromBlock: "0x0", toBlock: q(opts.head) }] });
  calls.push({ method: "eth_blockNumber", params: [] });
  const size = opts.batch ?? 400;
  for (let at = 0; at < calls.length; at += size) {
    const chunk = calls.slice(at, at + size);
    const [ours, theirs] = await Promise.all([rpcBatch(readerUrl, chunk), rpcBatch(upstreamUrl, chunk)]);
    chunk.forEach((c, i) => {
      assert.deepEqual(
        { ...ours[i], id: null },
        { ...theirs[i], id: null },
        `${c.method} ${JSON.stringify(c.params)}`,
      );
    });
  }
}

/** Every account a block range touched: senders, recipients, created contracts, log emitters. */
export async function touchedAccounts(upstreamUrl: string, head: number): Promise<string[]> {
  const calls: JsonRpcCall[] = [];
  for (let h = 0; h <= head; h++) calls.push({ method: "eth_getBlockReceipts", params: [q(h)] });
  const out = new Set<string>();
  for (let at = 0; at < calls.length; at += 400) {
    for (const r of await rpcBatch(upstreamUrl, calls.slice(at, at + 400))) {
      for (const rc of (r.result ?? []) as {
        from: string;
        to: string | null;
        contractAddress: string | null;
        logs: { address: string }[];
      }[]) {
        for (const a of [rc.from, rc.to, rc.contractAddress, ...rc.logs.map((l) => l.address)]) {
          if (a) out.add(a.toLowerCase());
        }
      }
    }
  }
  return [...out].sort();
}
