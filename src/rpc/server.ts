import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { type MetricObjectWithValues, type MetricValue, Registry } from "prom-client";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { HttpUpstream } from "../upstream/index.ts";
import { type Clock, systemClock } from "../util/clock.ts";
import { CommonError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { type PartialOptions, withDefaults } from "../util/options.ts";
import type { ChainView } from "../view/index.ts";
import { CallCache } from "./callcache.ts";
import type { MethodDef, MethodEnv, ReaderAdmin, SyncStatus } from "./context.ts";
import { RpcCode } from "./errors.ts";
import type { ChainEvents } from "./events.ts";
import { type EvmApi, loadEvm } from "./evm.ts";
import { FeeOracle } from "./fees.ts";
import { METHODS } from "./methods/index.ts";
import { RpcMetrics } from "./metrics.ts";
import { rpcOptions } from "./options.ts";
import { type Body, Dispatcher, errorResponse, type Forwarder, type Reply } from "./protocol.ts";
import { SubscriptionHub } from "./subscriptions.ts";
import { gateWhileSyncing, notLive } from "./sync.ts";

/** What the RPC server needs. */
export interface RpcServerDeps {
  view: ChainView;
  /** Applied blocks, for subscriptions. */
  events: ChainEvents;
  logger: Logger;
  /** Registry the metrics go to (default: a registry of its own, served at /metrics). */
  metrics?: Registry;
  /** The EVM for eth_call / eth_estimateGas (default: src/evm, loaded on first use). */
  evm?: EvmApi;
  /** Where to forward requests (default: an HTTP client of `upstream`). */
  upstream?: Forwarder;
  /** Sync progress for eth_syncing while no block is applied. */
  syncStatus?: () => SyncStatus | undefined;
  /** Wall clock (default: the system clock). */
  clock?: Clock;
  /** Operator actions behind the admin methods (served with `admin`). */
  admin?: ReaderAdmin;
  /**
   * What `GET /metrics` serves (default: this server's registry). A server that is one of several
   * processes serving one port answers with the metrics of all of them.
   */
  metricsText?: () => Promise<{ contentType: string; text: string }>;
  /**
   * More GET routes on the port (an archiver's `/status` and recovery API): resolves true when it
   * answered the request.
   */
  routes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

const JSON_HEADERS = { "content-type": "application/json", "access-control-allow-origin": "*" };
const CORS_PREFLIGHT = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, GET, OPTIONS",
  "access-control-allow-headers": "content-type",
  "access-control-max-age": "86400",
};

function pathOf(url: string | undefined): string {
  if (!url) return "/";
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

function toText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

/**
 * Ethereum JSON-RPC over HTTP (POST /) and WebSocket (upgrade at /) on one port, answering from a
 * reader's `ChainView`; `GET /health` (200 when serving, 503 before the first block or while the staged sync is not LIVE) and
 * `GET /metrics` (Prometheus) on the same port.
 */
export class RpcServer {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly dispatcher: Dispatcher;
  private readonly hub: SubscriptionHub;
  private readonly metrics: RpcMetrics;
  private readonly registry: Registry;
  private readonly methods = new Map<string, MethodDef>();
  private readonly host: string;
  private readonly port: number;
  private readonly maxBodyBytes: number;
  private readonly wsMaxBuffered: number;
  private readonly logger: Logger;
  private readonly upstream: Forwarder | undefined;

  /**
   * `opts`: the front's options (`rpcOptions`; `rpcPort` 0 picks a free port). Requests the reader
   * cannot answer from its own data (state it does not hold, blocks below its earliest,
   * eth_sendRawTransaction, calls with overrides) are forwarded to `upstream`; without it they
   * fail. `callCacheEntries` defaults to 0 with an injected `deps.evm`, which need not answer as a
   * pure function of state and request (a test double).
   */
  constructor(
    given: PartialOptions<typeof rpcOptions>,
    private readonly deps: RpcServerDeps,
  ) {
    const opts = withDefaults(rpcOptions, given);
    this.host = opts.rpcHost;
    this.port = opts.rpcPort ?? 0;
    this.maxBodyBytes = opts.maxBodyBytes;
    this.wsMaxBuffered = opts.wsMaxBufferedBytes;
    this.logger = deps.logger.child({ module: "rpc" });
    this.registry = deps.metrics ?? new Registry();
    this.metrics = new RpcMetrics(this.registry);
    this.upstream =
      deps.upstream ??
      (opts.upstream
        ? new HttpUpstream({ url: opts.upstream, timeoutMs: opts.upstreamTimeout }, { logger: this.logger })
        : undefined);
    for (const m of METHODS) this.methods.set(m.name, gateWhileSyncing(m, deps.view));
    const evm = deps.evm;
    const clock = deps.clock ?? systemClock;
    const env: MethodEnv = {
      view: deps.view,
      hasUpstream: this.upstream !== undefined,
      chainId: deps.view.chainId,
      clientVersion: opts.clientVersion,
      maxLogRange: opts.maxLogRange,
      maxLogResults: opts.maxLogResults,
      fees: new FeeOracle(deps.view),
      callCache: new CallCache({ maxEntries: given.callCacheEntries ?? (evm ? 0 : opts.callCacheEntries) }),
      evm: () => (evm ? Promise.resolve(evm) : loadEvm()),
      syncStatus: () => deps.syncStatus?.(),
      now: () => clock.now(),
      admin: deps.admin,
    };
    this.dispatcher = new Dispatcher(
      { maxBatch: opts.maxBatch, adminEnabled: opts.admin },
      { methods: this.methods, env, metrics: this.metrics, logger: this.logger, upstream: this.upstream },
    );
    this.hub = new SubscriptionHub(deps.events, this.logger);
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = opts.keepAliveTimeout;
    this.server.headersTimeout = this.server.keepAliveTimeout + 1000;
    this.server.on("clientError", (_err, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
      else socket.destroy();
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxBodyBytes,
      perMessageDeflate: false,
    });
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
  }

  /**
   * Adds a method (e.g. an operator's admin method from the composition root). Fails when a
   * method of that name exists.
   */
  register(def: MethodDef): void {
    if (this.methods.has(def.name)) {
      throw new CommonError("CONFIG_INVALID", `rpc method ${def.name} is already registered`, {
        method: def.name,
      });
    }
    this.methods.set(def.name, def);
  }

  /** Starts listening; resolves to the bound port. */
  start(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen(this.port, this.host, () => {
        this.server.off("error", onError);
        this.server.on("error", (err) => this.logger.error({ err: err.message }, "rpc server error"));
        const addr = this.server.address();
        const port = typeof addr === "object" && addr ? addr.port : this.port;
        this.logger.info({ host: this.host, port }, "rpc server listening");
        resolve({ port });
      });
    });
  }

  /** Stops listening, drops every connection and subscription. */
  async close(): Promise<void> {
    this.hub.close();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // ---- HTTP ----

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      const path = pathOf(req.url);
      const method = req.method;
      if (method === "POST") {
        if (path === "/") this.onPost(req, res);
        else this.refuse(req, res, 404, "not found");
      } else if (method === "OPTIONS") {
        res.writeHead(204, CORS_PREFLIGHT).end();
      } else if ((method === "GET" || method === "HEAD") && path === "/health") {
        this.onHealth(res);
      } else if ((method === "GET" || method === "HEAD") && path === "/metrics") {
        this.onMetrics(res);
      } else if (this.deps.routes && path !== "/") {
        this.deps.routes(req, res).then(
          (answered) => {
            if (!answered) this.refuse(req, res, 404, "not found");
          },
          (err) => {
            this.logger.error({ err: errorMessage(err) }, "route failed");
            if (!res.headersSent) res.writeHead(500, JSON_HEADERS);
            res.end(JSON.stringify({ error: errorMessage(err) }));
          },
        );
      } else if (path === "/") {
        this.refuse(req, res, 405, "use POST for JSON-RPC, or a WebSocket upgrade");
      } else {
        this.refuse(req, res, 404, "not found");
      }
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, "rpc http handler failed");
      if (!res.headersSent) res.writeHead(500, JSON_HEADERS);
      res.end();
    }
  }

  private refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
    this.metrics.httpRejected.labels(String(status)).inc();
    req.resume();
    const headers: Record<string, string> = { ...JSON_HEADERS };
    if (status === 405) headers.allow = "POST, GET, OPTIONS";
    res.writeHead(status, headers).end(JSON.stringify({ error: message }));
  }

  private onPost(req: IncomingMessage, res: ServerResponse): void {
    const max = this.maxBodyBytes;
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > max) {
      this.tooLarge(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > max) {
        refused = true;
        chunks.length = 0;
        this.tooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (refused) return;
      const text =
        chunks.length === 1
          ? (chunks[0] as Buffer).toString("utf8")
          : Buffer.concat(chunks, size).toString("utf8");
      let reply: Reply;
      try {
        reply = this.dispatcher.handleText(text, "http");
      } catch (err) {
        this.logger.error({ err: errorMessage(err) }, "rpc dispatch failed");
        reply = errorResponse(RpcCode.INTERNAL_ERROR, "Internal error");
      }
      if (typeof reply === "string" || reply === undefined || Buffer.isBuffer(reply)) this.send(res, reply);
      else
        reply.then(
          (body) => this.send(res, body),
          (err) => {
            this.logger.error({ err: errorMessage(err) }, "rpc dispatch failed");
            this.send(res, errorResponse(RpcCode.INTERNAL_ERROR, "Internal error"));
          },
        );
    });
    req.on("error", () => {
      // The client went away; nothing to answer.
    });
  }

  private send(res: ServerResponse, body: Body | undefined): void {
    if (res.writableEnded || res.destroyed) return;
    if (body === undefined) {
      res.writeHead(204, JSON_HEADERS).end();
      return;
    }
    res
      .writeHead(200, [
        "content-type",
        "application/json",
        "access-control-allow-origin",
        "*",
        "content-length",
        String(typeof body === "string" ? Buffer.byteLength(body) : body.length),
      ])
      .end(body);
  }

  private tooLarge(req: IncomingMessage, res: ServerResponse): void {
    this.metrics.httpRejected.labels("413").inc();
    const body = errorResponse(
      RpcCode.INVALID_REQUEST,
      `invalid request: request body exceeds the limit of ${this.maxBodyBytes} bytes`,
    );
    res
      .writeHead(413, { ...JSON_HEADERS, "content-length": Buffer.byteLength(body), connection: "close" })
      .end(body);
    // Read and drop the rest, so that the client sees the answer rather than a reset.
    req.resume();
  }

  private onHealth(res: ServerResponse): void {
    let tip: ReturnType<ChainView["tip"]>;
    try {
      tip = this.deps.view.tip();
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, "health check could not read the tip");
      tip = undefined;
    }
    const sync = notLive(this.deps.view);
    const ok = tip !== undefined && sync === undefined;
    const body = ok
      ? { status: "ok", height: tip?.height }
      : sync
        ? {
            status: "syncing",
            stage: sync.stage,
            currentBlock: sync.currentBlock,
            highestBlock: sync.highestBlock,
            detail: sync.detail,
            ...(sync.lastError ? { lastError: sync.lastError } : {}),
          }
        : { status: "syncing" };
    res.writeHead(ok ? 200 : 503, { ...JSON_HEADERS, "cache-control": "no-store" }).end(JSON.stringify(body));
  }

  /** This server's metrics as prom-client JSON, for aggregation across processes. */
  metricsJson(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    this.metrics.subscriptions.set(this.hub.size);
    return this.registry.getMetricsAsJSON();
  }

  private onMetrics(res: ServerResponse): void {
    this.metrics.subscriptions.set(this.hub.size);
    const text = this.deps.metricsText
      ? this.deps.metricsText()
      : this.registry.metrics().then((t) => ({ contentType: this.registry.contentType, text: t }));
    text
      .then((m) => res.writeHead(200, { "content-type": m.contentType }).end(m.text))
      .catch((err) => {
        this.logger.warn({ err: errorMessage(err) }, "metrics collection failed");
        res.writeHead(500).end();
      });
  }

  // ---- WebSocket ----

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    if (pathOf(req.url) !== "/") {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, "websocket upgrade failed");
      socket.destroy();
    }
  }

  private onConnection(ws: WebSocket): void {
    this.metrics.wsConnections.inc();
    const limit = this.wsMaxBuffered;
    const send = (text: Body): boolean => {
      if (ws.readyState !== ws.OPEN) return false;
      if (ws.bufferedAmount > limit) {
        this.logger.warn({ buffered: ws.bufferedAmount }, "websocket client too slow, disconnecting");
        ws.terminate();
        return false;
      }
      // Bytes are JSON text too: a text frame, as for strings.
      ws.send(text, { binary: false });
      return true;
    };
    const subs = this.hub.connection({ send });
    ws.on("message", (data) => {
      let reply: Reply;
      try {
        reply = this.dispatcher.handleText(toText(data), "ws", subs);
      } catch (err) {
        this.logger.error({ err: errorMessage(err) }, "rpc dispatch failed");
        reply = errorResponse(RpcCode.INTERNAL_ERROR, "Internal error");
      }
      if (typeof reply === "string" || Buffer.isBuffer(reply)) send(reply);
      else if (reply !== undefined) {
        reply.then(
          (body) => {
            if (body !== undefined) send(body);
          },
          () => send(errorResponse(RpcCode.INTERNAL_ERROR, "Internal error")),
        );
      }
    });
    ws.on("close", () => {
      subs.closeAll();
      this.metrics.wsConnections.dec();
    });
    ws.on("error", (err) => this.logger.debug({ err: err.message }, "websocket error"));
  }
}
