/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over any transport: parses a message,
 * validates each request object, runs the method and builds the response text. Results that are
 * `RawJson` are spliced into the response without being parsed or re-serialised.
 */
import { performance } from "node:perf_hooks";
import { UpstreamError } from "../upstream/index.ts";
import { isErrorCode } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { RawJson } from "../view/index.ts";
import {
  type CallContext,
  type MethodDef,
  type MethodEnv,
  parseParams,
  type SubscriptionHost,
} from "./context.ts";
import { type JsonRpcErrorObject, RpcCode, RpcError, toJsonRpcError } from "./errors.ts";
import type { RpcMetrics } from "./metrics.ts";

/** Where requests the reader cannot answer go (the upstream node). `HttpUpstream` satisfies it. */
export interface Forwarder {
  /** Sends one JSON-RPC request object and resolves to the whole response object. */
  forward(body: unknown): Promise<unknown>;
}

/** The transport a message came over (metrics, and WebSocket-only methods). */
export type Transport = "http" | "ws";

/** Options of the dispatcher. */
export interface DispatcherOptions {
  /** Most requests in one batch. */
  maxBatch: number;
  /** Serve methods marked `admin`. */
  adminEnabled: boolean;
}

/** What the dispatcher needs. */
export interface DispatcherDeps {
  methods: ReadonlyMap<string, MethodDef>;
  env: MethodEnv;
  metrics: RpcMetrics;
  logger: Logger;
  upstream: Forwarder | undefined;
}

/**
 * A JSON value held as UTF-8 byte chunks, spliced into the response as they are: large answers
 * (eth_getLogs) are written to the socket without a JS string ever being built.
 */
export class JsonBytes {
  constructor(readonly chunks: readonly Uint8Array[]) {}
}

/** A response: text, or UTF-8 bytes when a result was `JsonBytes`. */
export type Body = string | Buffer;

/** A response, nothing (notifications only), or a promise of either. */
export type Reply = Body | undefined | Promise<Body | undefined>;

const EMPTY: readonly unknown[] = Object.freeze([]);
const KNOWN_CODES: ReadonlySet<number> = new Set([...Object.values(RpcCode), 3]);
const MAX_NAME_IN_MESSAGE = 64;

function isPromise<T>(v: unknown): v is Promise<T> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

function errorText(idJson: string, e: JsonRpcErrorObject): string {
  let body: string;
  try {
    body = JSON.stringify(e);
  } catch {
    body = JSON.stringify({ code: e.code, message: e.message });
  }
  return `{"jsonrpc":"2.0","id":${idJson},"error":${body}}`;
}

/** A complete error response with id null, for failures before any request is read. */
export function errorResponse(code: number, message: string): string {
  return errorText("null", { code, message });
}

function resultJson(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (v === undefined) return "null";
  return JSON.stringify(v);
}

const OPEN_BRACKET = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE_BRACKET = Buffer.from("]");
const CLOSE_BRACE = Buffer.from("}");

function joinBatch(parts: (Body | undefined)[]): Body | undefined {
  const out = parts.filter((p): p is Body => p !== undefined);
  if (out.length === 0) return undefined;
  if (out.every((p): p is string => typeof p === "string")) return `[${out.join(",")}]`;
  const chunks: Buffer[] = [OPEN_BRACKET];
  out.forEach((p, i) => {
    if (i > 0) chunks.push(COMMA);
    chunks.push(typeof p === "string" ? Buffer.from(p) : p);
  });
  chunks.push(CLOSE_BRACKET);
  return Buffer.concat(chunks);
}

class Context implements CallContext {
  constructor(
    readonly env: MethodEnv,
    readonly method: string,
    readonly rawParams: readonly unknown[],
    readonly conn: SubscriptionHost | undefined,
    private readonly upstream: Forwarder | undefined,
  ) {}

  async forward(): Promise<RawJson> {
    if (!this.upstream) {
      throw new RpcError("RPC_SERVER_ERROR", `no upstream is configured to answer ${this.method}`);
    }
    const resp = await this.upstream.forward({
      jsonrpc: "2.0",
      id: 1,
      method: this.method,
      params: this.rawParams,
    });
    if (typeof resp !== "object" || resp === null) {
      throw new UpstreamError("UPSTREAM_RPC", "upstream answered with a non-object", {
        method: this.method,
      });
    }
    const r = resp as { result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } };
    if (r.error !== undefined && r.error !== null) {
      const e = r.error;
      throw new RpcError("RPC_UPSTREAM", `upstream error for ${this.method}`, {
        rpcCode: typeof e.code === "number" ? e.code : RpcCode.SERVER_ERROR,
        rpcMessage: typeof e.message === "string" ? e.message : "upstream error",
        rpcData: e.data,
      });
    }
    if (!("result" in r)) {
      throw new UpstreamError("UPSTREAM_RPC", "upstream answer has neither result nor error", {
        method: this.method,
      });
    }
    return new RawJson(JSON.stringify(r.result ?? null));
  }
}

/** One request in flight. */
interface Call {
  def: MethodDef;
  idJson: string;
  isNotification: boolean;
  t0: number;
  metrics: MethodMetrics;
  ctx: Context | undefined;
}

interface MethodMetrics {
  requests: { inc(): void };
  duration: { observe(v: number): void };
}

/** Runs JSON-RPC messages against a method table. Never throws: every failure becomes an error response. */
export class Dispatcher {
  private readonly metricCache = new Map<string, MethodMetrics>();

  constructor(
    private readonly opts: DispatcherOptions,
    private readonly deps: DispatcherDeps,
  ) {}

  /** Handles one message (a request object or a batch array) given as JSON text. */
  handleText(text: string, transport: Transport, conn?: SubscriptionHost): Reply {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.countError("invalid", RpcCode.PARSE_ERROR);
      return errorResponse(RpcCode.PARSE_ERROR, "Parse error: the message is not valid JSON");
    }
    return this.handleMessage(msg, transport, conn);
  }

  /** Handles one parsed message. */
  handleMessage(msg: unknown, transport: Transport, conn?: SubscriptionHost): Reply {
    if (!Array.isArray(msg)) return this.handleOne(msg, transport, conn);
    if (msg.length === 0) {
      this.countError("invalid", RpcCode.INVALID_REQUEST);
      return errorResponse(RpcCode.INVALID_REQUEST, "invalid request: empty batch");
    }
    if (msg.length > this.opts.maxBatch) {
      this.countError("invalid", RpcCode.INVALID_REQUEST);
      return errorResponse(
        RpcCode.INVALID_REQUEST,
        `invalid request: batch of ${msg.length} requests exceeds the limit of ${this.opts.maxBatch}`,
      );
    }
    const replies = msg.map((m) => this.handleOne(m, transport, conn));
    if (!replies.some(isPromise)) return joinBatch(replies as (Body | undefined)[]);
    return Promise.all(replies).then(joinBatch);
  }

  private invalid(idJson: string, message: string): string {
    this.countError("invalid", RpcCode.INVALID_REQUEST);
    return errorText(idJson, { code: RpcCode.INVALID_REQUEST, message: `invalid request: ${message}` });
  }

  private handleOne(req: unknown, transport: Transport, conn: SubscriptionHost | undefined): Reply {
    if (typeof req !== "object" || req === null || Array.isArray(req)) {
      return this.invalid("null", "not a JSON-RPC request object");
    }
    const r = req as Record<string, unknown>;
    const isNotification = !("id" in r);
    const id = r.id;
    let idJson: string;
    if (id === undefined || id === null) idJson = "null";
    else if (typeof id === "string") idJson = JSON.stringify(id);
    else if (typeof id === "number" && Number.isInteger(id)) idJson = String(id);
    else return this.invalid("null", "id must be a string, an integer or null");
    if (r.jsonrpc !== "2.0") return this.invalid(idJson, 'jsonrpc must be "2.0"');
    const name = r.method;
    if (typeof name !== "string") return this.invalid(idJson, "method must be a string");
    let raw: readonly unknown[];
    const p = r.params;
    if (p === undefined || p === null) raw = EMPTY;
    else if (Array.isArray(p)) raw = p;
    else if (typeof p === "object") raw = EMPTY;
    else return this.invalid(idJson, "params must be an array");

    const def = this.deps.methods.get(name);
    if (!def || (def.wsOnly && transport !== "ws") || (def.admin && !this.opts.adminEnabled)) {
      this.countError("unknown", RpcCode.METHOD_NOT_FOUND);
      if (isNotification) return undefined;
      const shown = name.length > MAX_NAME_IN_MESSAGE ? `${name.slice(0, MAX_NAME_IN_MESSAGE)}…` : name;
      return errorText(idJson, {
        code: RpcCode.METHOD_NOT_FOUND,
        message: `the method ${shown} does not exist/is not available`,
      });
    }
    const m = this.metricsFor(def.name, transport);
    m.requests.inc();
    const call: Call = { def, idJson, isNotification, t0: performance.now(), metrics: m, ctx: undefined };
    let result: unknown;
    try {
      if (p !== undefined && p !== null && !Array.isArray(p)) {
        throw new RpcError(
          "RPC_INVALID_PARAMS",
          "invalid params: params must be an array (by-name params are not supported)",
        );
      }
      const parsed = parseParams(def.params, raw);
      call.ctx = new Context(this.deps.env, def.name, raw, conn, this.deps.upstream);
      result = def.handler(parsed, call.ctx);
    } catch (err) {
      return this.fail(call, err);
    }
    if (isPromise(result)) {
      return result.then(
        (v) => this.done(call, v),
        (err) => this.fail(call, err),
      );
    }
    return this.done(call, result);
  }

  private done(call: Call, result: unknown): Body | undefined {
    if (result instanceof JsonBytes) {
      call.metrics.duration.observe((performance.now() - call.t0) / 1000);
      if (call.isNotification) return undefined;
      const head = Buffer.from(`{"jsonrpc":"2.0","id":${call.idJson},"result":`);
      return Buffer.concat([head, ...result.chunks, CLOSE_BRACE]);
    }
    let json: string;
    try {
      json = resultJson(result);
    } catch (err) {
      return this.failed(call, err);
    }
    call.metrics.duration.observe((performance.now() - call.t0) / 1000);
    return call.isNotification ? undefined : `{"jsonrpc":"2.0","id":${call.idJson},"result":${json}}`;
  }

  private failed(call: Call, err: unknown): string | undefined {
    call.metrics.duration.observe((performance.now() - call.t0) / 1000);
    const e = toJsonRpcError(err);
    this.countError(call.def.name, e.code);
    if (e.code === RpcCode.INTERNAL_ERROR) {
      this.deps.logger.error({ err, method: call.def.name }, "rpc handler failed");
    }
    return call.isNotification ? undefined : errorText(call.idJson, e);
  }

  private fail(call: Call, err: unknown): Reply {
    // The view does not know this state, or the EVM cannot run this call: the upstream answers
    // the same request.
    const ctx = call.ctx;
    if (
      ctx &&
      this.deps.upstream &&
      (isErrorCode(err, "STATE_UNAVAILABLE") || isErrorCode(err, "EVM_UNSUPPORTED"))
    ) {
      return ctx.forward().then(
        (v) => this.done(call, v),
        (e) => this.failed(call, e),
      );
    }
    return this.failed(call, err);
  }

  private metricsFor(method: string, transport: Transport): MethodMetrics {
    const key = `${method} ${transport}`;
    let m = this.metricCache.get(key);
    if (!m) {
      m = {
        requests: this.deps.metrics.requests.labels(method, transport),
        duration: this.deps.metrics.duration.labels(method),
      };
      this.metricCache.set(key, m);
    }
    return m;
  }

  private countError(method: string, code: number): void {
    // Codes from the upstream or the EVM are open-ended: keep the label set bounded.
    const label = KNOWN_CODES.has(code) ? String(code) : "other";
    this.deps.metrics.errors.labels(method, label).inc();
  }
}
