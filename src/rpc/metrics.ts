import { Counter, Gauge, Histogram, type Registry } from "prom-client";

type Metric = Counter<string> | Histogram<string> | Gauge<string>;

// Reuses a metric already registered (several servers in one process share a registry).
function once<M extends Metric>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

/** Prometheus metrics of the RPC server. */
export class RpcMetrics {
  /** Requests by method (`chainkeep_rpc_requests_total`). */
  readonly requests: Counter<"method" | "transport">;
  /** Handling time by method, in seconds. */
  readonly duration: Histogram<"method">;
  /** Error answers by method and JSON-RPC code. */
  readonly errors: Counter<"method" | "code">;
  /** Open WebSocket connections. */
  readonly wsConnections: Gauge<string>;
  /** Live subscriptions. */
  readonly subscriptions: Gauge<string>;
  /** HTTP requests refused before JSON-RPC (body too large, wrong path or verb). */
  readonly httpRejected: Counter<"status">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = once(
      registry,
      "chainkeep_rpc_requests_total",
      () =>
        new Counter({
          name: "chainkeep_rpc_requests_total",
          help: "JSON-RPC requests handled, by method and transport",
          labelNames: ["method", "transport"],
          registers,
        }),
    );
    this.duration = once(
      registry,
      "chainkeep_rpc_request_duration_seconds",
      () =>
        new Histogram({
          name: "chainkeep_rpc_request_duration_seconds",
          help: "Time to answer one JSON-RPC request, by method, in seconds",
          labelNames: ["method"],
          buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
          registers,
        }),
    );
    this.errors = once(
      registry,
      "chainkeep_rpc_errors_total",
      () =>
        new Counter({
          name: "chainkeep_rpc_errors_total",
          help: "JSON-RPC error answers, by method and error code",
          labelNames: ["method", "code"],
          registers,
        }),
    );
    this.wsConnections = once(
      registry,
      "chainkeep_rpc_ws_connections",
      () =>
        new Gauge({ name: "chainkeep_rpc_ws_connections", help: "Open WebSocket connections", registers }),
    );
    this.subscriptions = once(
      registry,
      "chainkeep_rpc_subscriptions",
      () =>
        new Gauge({
          name: "chainkeep_rpc_subscriptions",
          help: "Live eth_subscribe subscriptions",
          registers,
        }),
    );
    this.httpRejected = once(
      registry,
      "chainkeep_rpc_http_rejected_total",
      () =>
        new Counter({
          name: "chainkeep_rpc_http_rejected_total",
          help: "HTTP requests refused before JSON-RPC handling, by status",
          labelNames: ["status"],
          registers,
        }),
    );
  }
}
