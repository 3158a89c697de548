import { errorMessage } from "../../util/errors.ts";
import { TrafficError } from "../errors.ts";

/** One reply of a batch. */
export interface JsonRpcReply {
  id: number;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** Batched JSON-RPC requests to one node over HTTP (TRAFFIC_RPC when the request fails). */
export class BatchRpc {
  private nextId = 0;

  constructor(private readonly url: string) {}

  /** One batched JSON-RPC request; replies in request order. */
  async call(calls: [string, unknown[]][]): Promise<JsonRpcReply[]> {
    if (calls.length === 0) return [];
    const first = this.nextId;
    this.nextId += calls.length;
    const body = JSON.stringify(
      calls.map(([method, params], i) => ({ jsonrpc: "2.0", id: first + i, method, params })),
    );
    let replies: unknown;
    try {
      const res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      if (!res.ok) throw new TrafficError("TRAFFIC_RPC", `HTTP ${res.status}`, { status: res.status });
      replies = await res.json();
    } catch (err) {
      throw new TrafficError(
        "TRAFFIC_RPC",
        `batched JSON-RPC request failed: ${errorMessage(err)}`,
        {},
        { cause: err },
      );
    }
    if (!Array.isArray(replies)) {
      throw new TrafficError("TRAFFIC_RPC", "batched JSON-RPC reply is not an array", { reply: replies });
    }
    const byId = new Map<number, JsonRpcReply>();
    for (const r of replies as JsonRpcReply[]) byId.set(r.id, r);
    return calls.map(
      (_, i) =>
        byId.get(first + i) ?? { id: first + i, error: { code: -32603, message: "no reply in the batch" } },
    );
  }
}
