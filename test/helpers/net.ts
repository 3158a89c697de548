/** Network helpers for tests: free loopback ports and raw JSON-RPC over HTTP. */
export { freePort } from "../../src/util/net.ts";

/** A JSON-RPC 2.0 response object exactly as the server sent it (EIP-1474). */
export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** A JSON-RPC call: method and positional params. */
export interface JsonRpcCall {
  method: string;
  params?: unknown[];
}

let nextId = 1;

/**
 * POSTs `body` verbatim and returns the HTTP status and the response text, untouched. For
 * byte-level comparisons and malformed-request tests.
 */
export async function rpcRaw(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: res.status, text: await res.text() };
}

/**
 * Sends one JSON-RPC request and returns the whole parsed response object (`result` or
 * `error`), untransformed, so differential tests can compare it with another node's.
 */
export async function rpc(url: string, method: string, params: unknown[] = []): Promise<JsonRpcResponse> {
  const { status, text } = await rpcRaw(
    url,
    JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
  );
  try {
    return JSON.parse(text) as JsonRpcResponse;
  } catch {
    throw new Error(`${method}: HTTP ${status}, not JSON: ${text.slice(0, 200)}`);
  }
}

/** Sends one batched request; returns the responses in request order (matched by id). */
export async function rpcBatch(url: string, calls: JsonRpcCall[]): Promise<JsonRpcResponse[]> {
  const first = nextId;
  nextId += calls.length;
  const body = calls.map((c, i) => ({
    jsonrpc: "2.0",
    id: first + i,
    method: c.method,
    params: c.params ?? [],
  }));
  const { status, text } = await rpcRaw(url, JSON.stringify(body));
  let replies: JsonRpcResponse[];
  try {
    replies = JSON.parse(text) as JsonRpcResponse[];
  } catch {
    throw new Error(`batch: HTTP ${status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (!Array.isArray(replies)) throw new Error(`batch: reply is not an array: ${text.slice(0, 200)}`);
  const byId = new Map(replies.map((r) => [r.id, r]));
  return calls.map((c, i) => {
    const r = byId.get(first + i);
    if (!r) throw new Error(`batch: no reply to ${c.method} (id ${first + i})`);
    return r;
  });
}

/** Sends one request and returns its `result`, throwing when the response is an error. */
export async function rpcResult<T = unknown>(
  url: string,
  method: string,
  params: unknown[] = [],
): Promise<T> {
  const res = await rpc(url, method, params);
  if (res.error) throw new Error(`${method} failed: ${res.error.code} ${res.error.message}`);
  return res.result as T;
}

/** Polls `fn` every `intervalMs` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    let last: unknown;
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? "condition"}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}
