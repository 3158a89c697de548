/** A compact comparison of a reader with its upstream over every height, for tests that disturb the cluster. */
import { type JsonRpcCall, type JsonRpcResponse, rpcBatch } from "./net.ts";

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Asks anvil and the reader the same questions about heights 0..`head` — every block with its
 * transactions, every block's receipts, the balance and nonce of `accounts` at each height — and
 * the logs of the whole range, and returns a line per answer that differs (empty when none).
 */
export async function mirrorDifferences(
  anvilUrl: string,
  readerUrl: string,
  head: number,
  accounts: readonly string[],
): Promise<string[]> {
  const calls: JsonRpcCall[] = [];
  for (let h = 0; h <= head; h++) {
    calls.push({ method: "eth_getBlockByNumber", params: [hex(h), true] });
    calls.push({ method: "eth_getBlockReceipts", params: [hex(h)] });
    for (const a of accounts) {
      calls.push({ method: "eth_getBalance", params: [a, hex(h)] });
      calls.push({ method: "eth_getTransactionCount", params: [a, hex(h)] });
    }
  }
  for (let from = 0; from <= head; from += 1000)
    calls.push({
      method: "eth_getLogs",
      params: [{ fromBlock: hex(from), toBlock: hex(Math.min(head, from + 999)) }],
    });
  const diffs: string[] = [];
  const strip = (r: JsonRpcResponse | undefined) =>
    JSON.stringify(r?.error ? { error: r.error } : { result: r?.result });
  for (let at = 0; at < calls.length; at += 400) {
    const chunk = calls.slice(at, at + 400);
    const [theirs, ours] = await Promise.all([rpcBatch(anvilUrl, chunk), rpcBatch(readerUrl, chunk)]);
    chunk.forEach((c, i) => {
      const a = strip(theirs[i]);
      const b = strip(ours[i]);
      if (a !== b)
        diffs.push(
          `${c.method} ${JSON.stringify(c.params)}: anvil ${a.slice(0, 200)}, reader ${b.slice(0, 200)}`,
        );
    });
  }
  return diffs;
}
