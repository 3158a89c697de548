import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import { option } from "./options.ts";

/** Options of a role's status endpoint (the writer's). */
export const statusOptions = {
  statusPort: option.port({ description: "serve /status, /health and /metrics on this port" }),
  statusHost: option.text({
    description: "address of the status server",
    arg: "<host>",
    default: "127.0.0.1",
  }),
};

/** Options of a role's status endpoint. */
export interface StatusServerOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
}

/**
 * A small HTTP server for roles that serve no RPC (the writer): `GET /status` (JSON),
 * `GET /health` (200/503), `GET /metrics` (Prometheus) and operator actions (`POST /resume`).
 */
export async function startStatusServer(
  opts: StatusServerOptions,
  deps: {
    status: () => unknown;
    healthy: () => boolean;
    registry: Registry;
    /** POST endpoints: path → action; the action's result is the JSON answer. */
    actions?: Record<string, () => unknown>;
  },
): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const action = deps.actions?.[path];
    if (req.method === "POST" && action) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(action() ?? null));
    } else if (req.method !== "GET") {
      res.writeHead(405).end();
    } else if (path === "/status") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(deps.status()));
    } else if (path === "/health") {
      const ok = deps.healthy();
      res
        .writeHead(ok ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify({ ok, ...(deps.status() as object) }));
    } else if (path === "/metrics") {
      deps.registry
        .metrics()
        .then((text) => res.writeHead(200, { "content-type": deps.registry.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  return { port, close: () => new Promise((r) => server.close(() => r())) };
}
