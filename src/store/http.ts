/**
 * Object stores over HTTP, read-only: the server side (`serveObjects`, an archiver's recovery
 * API) and the client (`HttpStore`, an `ObjectStore` that `recover store` reads archivers with).
 * Paths, under the versioned root `/recovery/v1/`:
 * - `GET chains`: the chains served, `[{ chainId, prefix, root, ... }]`;
 * - `GET list?prefix=P&startAfter=K&limit=N`: `{ keys }`, in key order (P inside a chain's root);
 * - `GET object/<key>`: the object's bytes, with `Range: bytes=a-b` answered 206.
 * With a token, every request needs `authorization: Bearer <token>` (401 otherwise).
 */

import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { CommonError } from "../util/errors.ts";
import { StoreError } from "./errors.ts";
import type { ListOptions, ObjectStore } from "./types.ts";

/** The versioned root of the recovery API. */
export const RECOVERY_PATH = "/recovery/v1/";

/** One chain an archiver serves: its root (`{prefix}/{chainId}/`) and the local store holding it. */
export interface ServedChain {
  chainId: number;
  prefix: string;
  root: string;
  store: ObjectStore;
  /** Extra fields for `GET chains` (e.g. the durable height). */
  describe?: () => Record<string, unknown>;
}

const MAX_LIST = 10_000;

/**
 * A request handler for the recovery API over `chains()`; resolves false for a path outside
 * {@link RECOVERY_PATH} (the caller answers it).
 */
export function serveObjects(
  chains: () => ServedChain[],
  opts: { token?: string } = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const token = opts.token ? Buffer.from(`Bearer ${opts.token}`) : undefined;
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (!url.pathname.startsWith(RECOVERY_PATH)) return false;
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(405, { error: "read-only: use GET" });
      return true;
    }
    if (token) {
      const given = Buffer.from(String(req.headers.authorization ?? ""));
      if (given.length !== token.length || !timingSafeEqual(given, token)) {
        send(401, { error: "a bearer token is required" });
        return true;
      }
    }
    const rest = url.pathname.slice(RECOVERY_PATH.length);
    const owner = (key: string) => chains().find((c) => key.startsWith(c.root));
    if (rest === "chains") {
      send(
        200,
        chains().map((c) => ({ chainId: c.chainId, prefix: c.prefix, root: c.root, ...c.describe?.() })),
      );
    } else if (rest === "list") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const c = owner(prefix);
      if (!c) {
        send(404, { error: `no chain served under ${prefix}` });
        return true;
      }
      const limit = Math.min(MAX_LIST, Number(url.searchParams.get("limit") ?? MAX_LIST) || MAX_LIST);
      const startAfter = url.searchParams.get("startAfter") ?? undefined;
      send(200, { keys: await c.store.list(prefix, { startAfter, limit }) });
    } else if (rest.startsWith("object/")) {
      const key = decodeURIComponent(rest.slice("object/".length));
      const c = owner(key);
      const data = c && !key.includes("..") ? await c.store.get(key) : undefined;
      if (!data) {
        send(404, { error: `no object ${key}` });
        return true;
      }
      const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
      if (range) {
        const a = Number(range[1]);
        const b = Math.min(Number(range[2]), data.length - 1);
        if (a > b) {
          res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
          return true;
        }
        res
          .writeHead(206, {
            "content-type": "application/octet-stream",
            "content-range": `bytes ${a}-${b}/${data.length}`,
            "content-length": b - a + 1,
          })
          .end(req.method === "HEAD" ? undefined : data.subarray(a, b + 1));
      } else {
        res
          .writeHead(200, { "content-type": "application/octet-stream", "content-length": data.length })
          .end(req.method === "HEAD" ? undefined : data);
      }
    } else {
      send(404, { error: "not found" });
    }
    return true;
  };
}

/** A read-only `ObjectStore` on an archiver's recovery API (`url`: its HTTP base). */
export class HttpStore implements ObjectStore {
  private readonly base: string;

  constructor(
    readonly url: string,
    private readonly opts: { token?: string; timeoutMs?: number } = {},
  ) {
    this.base = `${url.replace(/\/+$/, "")}${RECOVERY_PATH}`;
  }

  private async request(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const auth: Record<string, string> = this.opts.token
      ? { authorization: `Bearer ${this.opts.token}` }
      : {};
    try {
      return await fetch(`${this.base}${path}`, {
        headers: { ...auth, ...headers },
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000),
      });
    } catch (err) {
      throw new StoreError(
        "STORE_UNAVAILABLE",
        `archiver ${this.url} unreachable`,
        { url: this.url },
        { cause: err },
      );
    }
  }

  private async failed(res: Response, what: string): Promise<never> {
    const body = await res.text().catch(() => "");
    throw new StoreError(
      "STORE_UNAVAILABLE",
      `archiver ${this.url}: ${what} answered ${res.status} ${body}`,
      {
        url: this.url,
        status: res.status,
      },
    );
  }

  /** The chains the archiver serves. */
  async chains(): Promise<{ chainId: number; prefix: string; root: string; [k: string]: unknown }[]> {
    const res = await this.request("chains");
    if (!res.ok) return this.failed(res, "chains");
    return (await res.json()) as { chainId: number; prefix: string; root: string }[];
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const res = await this.request(`object/${encodeURIComponent(key)}`);
    if (res.status === 404) return undefined;
    if (!res.ok) return this.failed(res, `object ${key}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const res = await this.request(`object/${encodeURIComponent(key)}`, {
      range: `bytes=${offset}-${offset + length - 1}`,
    });
    if (res.status === 404) return undefined;
    if (res.status !== 206) return this.failed(res, `range of ${key}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<string[]> {
    const out: string[] = [];
    let startAfter = opts.startAfter;
    const want = opts.limit ?? Number.POSITIVE_INFINITY;
    while (out.length < want) {
      const q = new URLSearchParams({ prefix, limit: String(Math.min(MAX_LIST, want - out.length)) });
      if (startAfter) q.set("startAfter", startAfter);
      const res = await this.request(`list?${q}`);
      if (res.status === 404) return out;
      if (!res.ok) return this.failed(res, "list");
      const { keys } = (await res.json()) as { keys: string[] };
      out.push(...keys);
      if (keys.length < MAX_LIST) break;
      startAfter = keys[keys.length - 1];
    }
    return out;
  }

  async put(key: string, _data: Uint8Array): Promise<void> {
    throw new CommonError("INVALID_ARGUMENT", `archiver ${this.url} is read-only (put ${key})`);
  }

  async delete(key: string): Promise<void> {
    throw new CommonError("INVALID_ARGUMENT", `archiver ${this.url} is read-only (delete ${key})`);
  }

  async close(): Promise<void> {}
}
