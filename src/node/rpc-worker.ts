/**
 * Entry point of a reader's RPC worker process (see `rpc/workers.ts`), a composition root: serves JSON-RPC on the shared
 * port from the reader's database opened read-only. Applied blocks arrive from the primary for
 * subscriptions; `/metrics` is answered by the primary for all processes.
 *
 * The primary may stop a worker while it is still loading: the IPC handlers are installed before
 * anything else is loaded (static imports are type-only), and a stop that comes early ends the
 * process as soon as it is seen.
 */
import type { ChainDb } from "../reader/index.ts";
import type {
  AdminOp,
  ChainEventEmitter,
  FromWorker,
  IpcError,
  RpcServer,
  ToWorker,
  WorkerConfig,
} from "../rpc/index.ts";
import type { Logger } from "../util/logger.ts";

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

interface Serving {
  db: ChainDb;
  events: ChainEventEmitter;
  server: RpcServer;
  logger: Logger;
}

let serving: Serving | undefined;
let stopping = false;
const waiting = new Map<number, (m: { contentType: string; text: string }) => void>();
const adminWaiting = new Map<number, (m: { result?: unknown; error?: IpcError }) => void>();

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (serving) {
    await serving.server.close();
    await serving.db.close();
  }
  process.exit(0);
}

process.on("message", (m: ToWorker) => {
  switch (m.t) {
    case "block":
      if (!serving) break; // not serving yet: it reads the database when it starts
      // The primary committed this block: read it now, before subscribers ask for it.
      serving.db.resetReadTxn();
      serving.events.emitBlock(m.event);
      break;
    case "collect":
      if (!serving) {
        send({ t: "collected", id: m.id, json: [] });
        break;
      }
      serving.server.metricsJson().then(
        (json) => send({ t: "collected", id: m.id, json }),
        () => send({ t: "collected", id: m.id, json: [] }),
      );
      break;
    case "metricsText": {
      const resolve = waiting.get(m.id);
      waiting.delete(m.id);
      resolve?.({ contentType: m.contentType, text: m.text });
      break;
    }
    case "adminResult": {
      const resolve = adminWaiting.get(m.id);
      adminWaiting.delete(m.id);
      resolve?.(m);
      break;
    }
    case "close":
      void stop();
      break;
  }
});
// The primary stops the workers; a terminal's Ctrl-C reaches them too and is left to it. Without
// the primary (killed), there is nothing to serve for.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => {});
process.on("disconnect", () => {
  void stop();
});

const [
  { ChainEventEmitter: Events, ForwardedError, RpcServer: Server, WORKER_CONFIG_ENV },
  { createLogger },
  { ChainDb: Db },
] = await Promise.all([import("../rpc/index.ts"), import("../util/logger.ts"), import("../reader/index.ts")]);
const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? "{}") as WorkerConfig;
const { default: cluster } = await import("node:cluster");
const logger = createLogger({ level: config.logLevel, base: { role: "reader", worker: cluster.worker?.id } });
if (stopping || !process.connected) process.exit(0);
const db = new Db({ path: config.dataDir, chainId: config.chainId, readOnly: true });
const events = new Events();
let nextId = 0;
// Admin actions run in the primary, the one process that writes the database.
const forwardAdmin = (action: AdminOp): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    adminWaiting.set(id, (m) => {
      if (m.error) reject(new ForwardedError(m.error.code, m.error.message, m.error.meta));
      else resolve(m.result);
    });
    send({ t: "admin", id, action });
  });
const server = new Server(config.rpc, {
  view: db,
  events,
  logger,
  admin: {
    backtrack: (height) => forwardAdmin({ op: "backtrack", height }) as Promise<{ from: number; to: number }>,
    switchPrefix: (prefix) =>
      forwardAdmin({ op: "switchPrefix", prefix }).then(
        (r) => (r ?? undefined) as { prefix: string; height: number } | undefined,
      ),
    status: () => forwardAdmin({ op: "status" }),
  },
  metricsText: () =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      send({ t: "metrics", id });
    }),
});
serving = { db, events, server, logger };
try {
  const { port } = await server.start();
  if (stopping) await new Promise(() => {}); // stop() is closing it
  send({ t: "listening", port });
  // Load the EVM now rather than on this worker's first eth_call (seconds of module loading).
  import("../rpc/index.ts").then(({ loadEvm }) => loadEvm()).catch(() => {});
} catch (err) {
  send({ t: "failed", error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
