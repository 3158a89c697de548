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
  /** Compare eth_blockNumber too (default true; false while the upstream may still be mining). */
  tip?: boolean;
}

const q = (h: number) => `0x${h.toString(16)}`;

/**
 * Asks the reader at `readerUrl` and the upstream at `upstreamUrl` the same questions for every
 * height 0…head — the block with full transactions, its receipts, the balance, nonce and code of
 * each account, each storage slot — and eth_getLogs over the whole range, and returns a line per
 * answer that differs (empty when none). Responses are compared whole (result or error), ids aside.
 */
export async function answerDifferences(
  readerUrl: string,
  upstreamUrl: string,
  opts: CompareOptions,
): Promise<string[]> {
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
  for (let from = 0; from <= opts.head; from += 1000) {
    calls.push({
      method: "eth_getLogs",
      params: [{ fromBlock: q(from), toBlock: q(Math.min(opts.head, from + 999)) }],
    });
  }
  if (opts.tip !== false) calls.push({ method: "eth_blockNumber", params: [] });
  const size = opts.batch ?? 400;
  const diffs: string[] = [];
  for (let at = 0; at < calls.length; at += size) {
    const chunk = calls.slice(at, at + size);
    const [ours, theirs] = await Promise.all([rpcBatch(readerUrl, chunk), rpcBatch(upstreamUrl, chunk)]);
    chunk.forEach((c, i) => {
      const a = JSON.stringify({ ...theirs[i], id: null });
      const b = JSON.stringify({ ...ours[i], id: null });
      if (a !== b) {
        diffs.push(
          `${c.method} ${JSON.stringify(c.params)}: upstream ${a.slice(0, 300)}, reader ${b.slice(0, 300)}`,
        );
      }
    });
  }
  return diffs;
}

/** Asserts that {@link answerDifferences} finds none. */
export async function assertSameAnswers(
  readerUrl: string,
  upstreamUrl: string,
  opts: CompareOptions,
): Promise<void> {
  const diffs = await answerDifferences(readerUrl, upstreamUrl, opts);
  assert.deepEqual(diffs.slice(0, 20), [], `${diffs.length} answers differ`);
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
