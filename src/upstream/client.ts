import WebSocket from "ws";
import type { Logger } from "../util/logger.ts";
import { UpstreamError } from "./errors.ts";

/** Options of the upstream JSON-RPC client. */
export interface UpstreamOptions {
  /** http(s):// or ws(s):// URL of the upstream node. */
  url: string;
  /** Per-request timeout, in ms (default 30000). */
  timeoutMs?: number;
}

/** A JSON-RPC error returned by the upstream, kept verbatim. */
export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** One call of a batch. */
export interface RpcCall {
  method: string;
  params: unknown[];
}

/** The upstream transport: JSON-RPC requests, batches, and `newHeads` subscriptions. */
export interface Upstream {
  request<T>(method: string, params?: unknown[]): Promise<T>;
  /** Sends calls in one batch; each element is the result or a ChainkeepError. */
  batch(calls: RpcCall[]): Promise<unknown[]>;
  /** Sends one request and returns the whole JSON-RPC response object (for forwarding). */
  forward(body: unknown): Promise<unknown>;
  /** Subscribes to new heads over WebSocket; resolves to an unsubscribe function. */
  subscribeNewHeads(
    onHead: (head: { number: string; hash: string }) => void,
    onClose: () => void,
  ): Promise<() => void>;
  /** True when the URL is a WebSocket URL (subscriptions are possible). */
  readonly canSubscribe: boolean;
  close(): void;
}

function httpUrlOf(url: string): string {
  return url.replace(/^ws(s?):\/\//, "http$1://");
}

function wsUrlOf(url: string): string {
  return url.replace(/^http(s?):\/\//, "ws$1://");
}

/**
 * A JSON-RPC client over HTTP (requests and batches) with WebSocket subscriptions when the URL
 * is `ws://`. Errors are `ChainkeepError("UPSTREAM_RPC")` with the upstream's error in `meta`.
 */
export class HttpUpstream implements Upstream {
  readonly canSubscribe: boolean;
  private readonly httpUrl: string;
  private readonly wsUrl: string;
  private readonly timeoutMs: number;
  private nextId = 1;
  private sockets = new Set<WebSocket>();

  constructor(
    opts: UpstreamOptions,
    private readonly deps: { logger: Logger },
  ) {
    this.canSubscribe = /^wss?:\/\//.test(opts.url);
    this.httpUrl = httpUrlOf(opts.url);
    this.wsUrl = wsUrlOf(opts.url);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  private async post(body: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.httpUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new UpstreamError(
        "UPSTREAM_RPC",
        `upstream unreachable: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new UpstreamError(
        "UPSTREAM_RPC",
        `upstream answered HTTP ${res.status} with non-JSON`,
        { status: res.status, body: text.slice(0, 200) },
        { cause: err },
      );
    }
  }

  async request<T>(method: string, params: unknown[] = []): Promise<T> {
    const res = (await this.post({ jsonrpc: "2.0", id: this.nextId++, method, params })) as {
      result?: T;
      error?: RpcErrorObject;
    };
    if (res.error) {
      throw new UpstreamError("UPSTREAM_RPC", `${method}: ${res.error.message}`, {
        method,
        error: res.error,
      });
    }
    return res.result as T;
  }

  async batch(calls: RpcCall[]): Promise<unknown[]> {
    if (calls.length === 0) return [];
    const base = this.nextId;
    this.nextId += calls.length;
    const body = calls.map((c, i) => ({ jsonrpc: "2.0", id: base + i, method: c.method, params: c.params }));
    const res = await this.post(body);
    if (!Array.isArray(res)) {
      const err = (res as { error?: RpcErrorObject }).error;
      throw new UpstreamError("UPSTREAM_RPC", `batch refused: ${err?.message ?? "not an array"}`, {
        error: err,
      });
    }
    const out: unknown[] = new Array(calls.length);
    for (const r of res as { id: number; result?: unknown; error?: RpcErrorObject }[]) {
      const i = r.id - base;
      const call = calls[i];
      if (!call) continue;
      out[i] = r.error
        ? new UpstreamError("UPSTREAM_RPC", `${call.method}: ${r.error.message}`, {
            method: call.method,
            error: r.error,
          })
        : r.result;
    }
    return out;
  }

  forward(body: unknown): Promise<unknown> {
    return this.post(body);
  }

  subscribeNewHeads(
    onHead: (head: { number: string; hash: string }) => void,
    onClose: () => void,
  ): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.wsUrl);
      this.sockets.add(ws);
      let subId: string | undefined;
      let opened = false;
      ws.on("open", () => {
        opened = true;
        ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
      });
      ws.on("message", (data) => {
        let msg: {
          id?: number;
          result?: string;
          error?: RpcErrorObject;
          params?: { subscription: string; result: { number: string; hash: string } };
        };
        try {
          msg = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (msg.id === 1) {
          if (msg.error) {
            ws.close();
            reject(
              new UpstreamError("UPSTREAM_UNSUPPORTED", `eth_subscribe: ${msg.error.message}`, {
                error: msg.error,
              }),
            );
            return;
          }
          subId = msg.result;
          resolve(() => ws.close());
          return;
        }
        if (msg.params && msg.params.subscription === subId) onHead(msg.params.result);
      });
      ws.on("error", (err) => {
        this.deps.logger.debug({ err: err.message }, "upstream websocket error");
        if (!opened)
          reject(new UpstreamError("UPSTREAM_RPC", `websocket: ${err.message}`, {}, { cause: err }));
      });
      ws.on("close", () => {
        this.sockets.delete(ws);
        if (opened) onClose();
      });
    });
  }

  close(): void {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
  }
}
