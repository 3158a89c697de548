/**
 * RPC worker processes (node:cluster). LMDB lets many processes read one environment
 * while one writes: the primary process keeps the replicator (the single writer) and each worker
 * serves JSON-RPC on the same port from the database opened read-only. Connections are spread by
 * the primary (cluster round-robin). The primary forwards every applied block to the workers
 * for their subscriptions, and answers `/metrics` for all processes together.
 */
import cluster, { type Worker } from "node:cluster";
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from "prom-client";
import { ChainkeepError, CommonError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import type { PartialOptions } from "../util/options.ts";
import type { ReaderAdmin } from "./context.ts";
import { RpcError } from "./errors.ts";
import type { BlockEvent } from "./events.ts";
import type { rpcOptions } from "./options.ts";

/** What a worker needs to serve: passed in its environment as JSON (`WORKER_CONFIG_ENV`). */
export interface WorkerConfig {
  dataDir: string;
  chainId: number;
  /**
   * The server's options; `rpcPort` 0 means one free port, the same for every worker. Its admin
   * methods are forwarded to the primary, which applies blocks.
   */
  rpc: PartialOptions<typeof rpcOptions>;
  /** pino level of the worker's logger. */
  logLevel: string;
}

/** An admin action a worker forwards to the primary. */
export type AdminOp =
  | { op: "backtrack"; height: number }
  | { op: "switchPrefix"; prefix: string }
  | { op: "status" };

/** A ChainkeepError across IPC. */
export interface IpcError {
  code: string;
  message: string;
  meta: Record<string, unknown>;
}

/** An error another process threw (a worker's admin call, run by the primary), with its code. */
export class ForwardedError extends ChainkeepError {}

/** Environment variable carrying a worker's `WorkerConfig`. */
export const WORKER_CONFIG_ENV = "CHAINKEEP_READER_WORKER";

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Messages from the primary to a worker. */
export type ToWorker =
  | { t: "block"; event: BlockEvent }
  | { t: "collect"; id: number }
  | { t: "metricsText"; id: number; contentType: string; text: string }
  | { t: "adminResult"; id: number; result?: unknown; error?: IpcError }
  | { t: "close" };

/** Messages from a worker to the primary. */
export type FromWorker =
  | { t: "listening"; port: number }
  | { t: "failed"; error: string }
  | { t: "collected"; id: number; json: MetricsJson }
  | { t: "metrics"; id: number }
  | { t: "admin"; id: number; action: AdminOp };

/** Options of the worker pool. */
export interface RpcWorkersOptions {
  /** Number of worker processes (at least 1). */
  count: number;
  /**
   * The worker's entry module (a file path): it reads its `WorkerConfig` from `WORKER_CONFIG_ENV`,
   * serves, and speaks the `ToWorker` / `FromWorker` messages (the composition root provides it).
   */
  entry: string;
  config: WorkerConfig;
  /** Longest wait for one worker's metrics, in ms (default 2000). */
  metricsTimeoutMs?: number;
  /** Longest wait for workers to exit on close, in ms (default 5000). */
  closeTimeoutMs?: number;
}

/** What the worker pool needs. */
export interface RpcWorkersDeps {
  logger: Logger;
  /** The primary's own metrics (replication), served together with the workers'. */
  metrics: Registry;
  /** What the workers' admin methods do (config.admin). */
  admin?: ReaderAdmin;
}

// The worker entry is TypeScript: workers load it through tsx, like the CLI does.
function workerExecArgv(): string[] {
  const inherited = process.execArgv.filter((a) => !a.startsWith("--inspect") && !a.startsWith("--cpu-prof"));
  if (inherited.some((a) => a.includes("tsx"))) return inherited;
  return [...inherited, "--import", import.meta.resolve("tsx")];
}

/**
 * The worker processes of one reader. `start` resolves once every worker listens; a worker that
 * dies later is replaced (after a second).
 */
export class RpcWorkers {
  private readonly workers = new Set<Worker>();
  /** Workers that report serving (the others are still loading). */
  private readonly serving = new Set<Worker>();
  private closing = false;
  private nextId = 0;
  private readonly collecting = new Map<number, { want: number; got: MetricsJson[]; done: () => void }>();
  private port = 0;

  constructor(
    private readonly opts: RpcWorkersOptions,
    private readonly deps: RpcWorkersDeps,
  ) {}

  /** Forks the workers; resolves to the port they serve on. */
  async start(): Promise<{ port: number }> {
    // Every worker listens with the configured port: the primary binds it once and shares the
    // handle (port 0 included: one free port for all).
    const forks: Promise<number>[] = [];
    for (let i = 0; i < Math.max(1, this.opts.count); i++)
      forks.push(this.fork(this.opts.config.rpc.rpcPort ?? 0));
    const ports = await Promise.all(forks);
    this.port = ports[0] as number;
    return { port: this.port };
  }

  /** Sends an applied block to every worker (for its subscriptions). */
  publish(event: BlockEvent): void {
    this.broadcast({ t: "block", event });
  }

  /** Number of live workers. */
  get size(): number {
    return this.workers.size;
  }

  /** Number of workers serving (the others are still starting). */
  get ready(): number {
    return this.serving.size;
  }

  /** Tells every worker to stop serving, and waits for them to exit. */
  async close(): Promise<void> {
    this.closing = true;
    const exits = [...this.workers].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          const t = setTimeout(() => {
            w.process.kill("SIGKILL");
            resolve();
          }, this.opts.closeTimeoutMs ?? 5000);
          w.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          // One still loading serves nothing and may not hear the message yet: end it.
          if (this.serving.has(w)) this.send(w, { t: "close" });
          else w.process.kill("SIGKILL");
        }),
    );
    await Promise.all(exits);
  }

  private fork(port: number): Promise<number> {
    cluster.setupPrimary({
      exec: this.opts.entry,
      execArgv: workerExecArgv(),
      args: [],
      serialization: "advanced",
    });
    const config: WorkerConfig = { ...this.opts.config, rpc: { ...this.opts.config.rpc, rpcPort: port } };
    const w = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    this.workers.add(w);
    return new Promise<number>((resolve, reject) => {
      let listening = false;
      w.on("message", (m: FromWorker) => {
        if (m.t === "listening") {
          listening = true;
          this.serving.add(w);
          resolve(m.port);
        } else if (m.t === "failed") {
          reject(new CommonError("CONFIG_INVALID", `rpc worker failed to start: ${m.error}`));
        } else {
          this.onMessage(w, m);
        }
      });
      w.on("error", (err) => this.deps.logger.warn({ err: err.message }, "rpc worker error"));
      w.on("exit", (code, signal) => {
        this.workers.delete(w);
        this.serving.delete(w);
        for (const c of this.collecting.values()) c.want--;
        for (const c of this.collecting.values()) if (c.got.length >= c.want) c.done();
        if (!listening) {
          reject(new CommonError("CONFIG_INVALID", `rpc worker exited before serving (${code ?? signal})`));
          return;
        }
        if (this.closing) return;
        this.deps.logger.error({ code, signal }, "rpc worker died; starting another");
        setTimeout(() => {
          if (this.closing) return;
          // With workers left, the shared handle is still bound under the configured port;
          // without, bind the port the reader has been serving on.
          const port = this.workers.size > 0 ? (this.opts.config.rpc.rpcPort ?? 0) : this.port;
          this.fork(port).catch((err) => {
            if (!this.closing)
              this.deps.logger.error({ err: errorMessage(err) }, "rpc worker restart failed");
          });
        }, 1000);
      });
    });
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (m.t === "collected") {
      const c = this.collecting.get(m.id);
      if (c) {
        c.got.push(m.json);
        if (c.got.length >= c.want) c.done();
      }
    } else if (m.t === "admin") {
      this.runAdmin(m.action).then(
        (result) => this.send(w, { t: "adminResult", id: m.id, result }),
        (err) =>
          this.send(w, {
            t: "adminResult",
            id: m.id,
            error:
              err instanceof ChainkeepError
                ? { code: err.code, message: err.message, meta: err.meta }
                : { code: "INTERNAL", message: errorMessage(err), meta: {} },
          }),
      );
    } else if (m.t === "metrics") {
      this.metricsText().then(
        ({ contentType, text }) => this.send(w, { t: "metricsText", id: m.id, contentType, text }),
        (err) => {
          this.deps.logger.warn({ err: errorMessage(err) }, "metrics collection failed");
          this.send(w, { t: "metricsText", id: m.id, contentType: "text/plain", text: "" });
        },
      );
    }
  }

  private async runAdmin(a: AdminOp): Promise<unknown> {
    const admin = this.deps.admin;
    if (!admin) throw new RpcError("RPC_METHOD_NOT_FOUND", "admin actions are not available");
    if (a.op === "backtrack") return admin.backtrack(a.height);
    if (a.op === "switchPrefix") return (await admin.switchPrefix(a.prefix)) ?? null;
    return admin.status();
  }

  /** The primary's metrics and every worker's, aggregated (counters and gauges summed). */
  async metricsText(): Promise<{ contentType: string; text: string }> {
    const id = this.nextId++;
    const got: MetricsJson[] = [];
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, this.opts.metricsTimeoutMs ?? 2000);
      const self = this;
      function done() {
        clearTimeout(t);
        self.collecting.delete(id);
        resolve();
      }
      this.collecting.set(id, { want: this.workers.size, got, done });
      if (this.workers.size === 0) done();
      else this.broadcast({ t: "collect", id });
    });
    const own = await this.deps.metrics.getMetricsAsJSON();
    const registry = AggregatorRegistry.aggregate([own, ...got]);
    return { contentType: registry.contentType, text: await registry.metrics() };
  }

  private broadcast(m: ToWorker): void {
    for (const w of this.workers) this.send(w, m);
  }

  private send(w: Worker, m: ToWorker): void {
    if (!w.isConnected()) return;
    try {
      w.send(m);
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, "message to rpc worker failed");
    }
  }
}
