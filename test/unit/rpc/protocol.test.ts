/**
 * The JSON-RPC layer's handling of bad input, over HTTP and WebSocket: parse errors, invalid
 * request objects, unknown methods, bad params, batch and body limits, wrong paths and verbs,
 * health and metrics, and a bounded fuzz loop that must never crash the server.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ChainEventEmitter, RpcServer } from "../../../src/rpc/index.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import { buildFixture, type Fixture, MemoryView } from "./fixture.ts";
import { WsClient } from "./ws-client.ts";

const MAX_BATCH = 5;
const MAX_BODY = 64 * 1024;
const ALLOWED_CODES = new Set([-32700, -32600, -32601, -32602, -32000, -32001, -32005]);

interface Reply {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

let fx: Fixture;
let server: RpcServer;
let url: string;
let wsUrl: string;

async function post(body: string, path = "/"): Promise<{ status: number; text: string }> {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/** Sends `body` over both transports; returns the HTTP and the WebSocket reply texts. */
async function both(body: string): Promise<{ http: string; ws: string }> {
  const h = await post(body);
  const ws = await WsClient.connect(wsUrl);
  try {
    ws.send(body);
    return { http: h.text, ws: await ws.next() };
  } finally {
    ws.close();
  }
}

function assertError(text: string, code: number, id: unknown = null): Reply {
  const r = JSON.parse(text) as Reply;
  assert.equal(r.jsonrpc, "2.0");
  assert.deepEqual(r.id, id);
  assert.equal(r.result, undefined);
  assert.equal(r.error?.code, code, text);
  assert.equal(typeof r.error?.message, "string");
  return r;
}

before(async () => {
  fx = await buildFixture();
  server = new RpcServer(
    { rpcPort: 0, maxBatch: MAX_BATCH, maxBodyBytes: MAX_BODY },
    { view: fx.view, events: new ChainEventEmitter(), logger: silentLogger() },
  );
  const { port } = await server.start();
  url = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${port}/`;
});

after(async () => {
  await server?.close();
  await fx?.anvil.stop();
});

describe("malformed and invalid requests (HTTP and WebSocket)", () => {
  const cases: { name: string; body: string; code: number; id?: unknown }[] = [
    { name: "not JSON", body: "garbage", code: -32700 },
    { name: "truncated JSON", body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"', code: -32700 },
    { name: "empty body", body: "", code: -32700 },
    { name: "a number", body: "42", code: -32600 },
    { name: "a string", body: '"eth_chainId"', code: -32600 },
    { name: "null", body: "null", code: -32600 },
    { name: "an empty object", body: "{}", code: -32600 },
    { name: "jsonrpc 1.0", body: '{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}', code: -32600, id: 1 },
    { name: "no jsonrpc", body: '{"id":"a","method":"eth_chainId"}', code: -32600, id: "a" },
    { name: "object id", body: '{"jsonrpc":"2.0","id":{},"method":"eth_chainId"}', code: -32600 },
    { name: "array id", body: '{"jsonrpc":"2.0","id":[1],"method":"eth_chainId"}', code: -32600 },
    { name: "fractional id", body: '{"jsonrpc":"2.0","id":1.5,"method":"eth_chainId"}', code: -32600 },
    { name: "boolean id", body: '{"jsonrpc":"2.0","id":true,"method":"eth_chainId"}', code: -32600 },
    { name: "method not a string", body: '{"jsonrpc":"2.0","id":2,"method":5}', code: -32600, id: 2 },
    { name: "no method", body: '{"jsonrpc":"2.0","id":2}', code: -32600, id: 2 },
    {
      name: "params a string",
      body: '{"jsonrpc":"2.0","id":3,"method":"eth_chainId","params":"x"}',
      code: -32600,
      id: 3,
    },
    {
      name: "unknown method",
      body: '{"jsonrpc":"2.0","id":"u","method":"eth_nope","params":[]}',
      code: -32601,
      id: "u",
    },
    {
      name: "by-name params",
      body: '{"jsonrpc":"2.0","id":4,"method":"eth_getBalance","params":{"address":"0x0"}}',
      code: -32602,
      id: 4,
    },
    {
      name: "extra param",
      body: '{"jsonrpc":"2.0","id":5,"method":"eth_blockNumber","params":[1]}',
      code: -32602,
      id: 5,
    },
    { name: "empty batch", body: "[]", code: -32600 },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.code}`, async () => {
      const { http, ws } = await both(c.body);
      assertError(http, c.code, c.id ?? null);
      assertError(ws, c.code, c.id ?? null);
    });
  }

  it("names the offending parameter in -32602 messages", async () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 6,
      method: "eth_getBalance",
      params: [fx.accounts[0], "nope"],
    });
    const { http, ws } = await both(body);
    for (const text of [http, ws]) {
      const r = assertError(text, -32602, 6);
      assert.match(r.error?.message ?? "", /^invalid params: params\[1\] \(block\) must be /);
    }
  });

  it("answers valid requests with the id echoed (string, number, null)", async () => {
    for (const id of ["abc", 0, 123456789, null]) {
      const { http, ws } = await both(JSON.stringify({ jsonrpc: "2.0", id, method: "eth_chainId" }));
      for (const text of [http, ws])
        assert.deepEqual(JSON.parse(text), { jsonrpc: "2.0", id, result: "0x7a69" });
    }
  });

  it("does not leak internals: a failing view becomes -32603 Internal error", async () => {
    const broken = Object.create(fx.view) as MemoryView;
    broken.blockJson = () => {
      throw new Error("secret failure at /var/lib/chainkeep");
    };
    const s = new RpcServer(
      { rpcPort: 0 },
      { view: broken, events: new ChainEventEmitter(), logger: silentLogger() },
    );
    const { port } = await s.start();
    try {
      const res = await fetch(`http://127.0.0.1:${port}`, {
        method: "POST",
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "eth_getBlockByNumber",
          params: ["latest", false],
        }),
      });
      const text = await res.text();
      const r = assertError(text, -32603, 1);
      assert.equal(r.error?.message, "Internal error");
      assert.doesNotMatch(text, /secret|\/var|at /);
    } finally {
      await s.close();
    }
  });
});

describe("batches", () => {
  it("answers each element, skipping notifications, in order", async () => {
    const body = JSON.stringify([
      { jsonrpc: "2.0", id: 1, method: "eth_chainId" },
      1,
      { jsonrpc: "2.0", id: 2, method: "eth_nope" },
      { jsonrpc: "2.0", method: "eth_chainId" },
      { jsonrpc: "2.0", id: 3, method: "eth_getBlockByNumber", params: ["0x1"] },
    ]);
    const { http, ws } = await both(body);
    for (const text of [http, ws]) {
      const r = JSON.parse(text) as Reply[];
      assert.equal(r.length, 4);
      assert.deepEqual(r[0], { jsonrpc: "2.0", id: 1, result: "0x7a69" });
      assert.equal(r[1]?.error?.code, -32600);
      assert.equal(r[1]?.id, null);
      assert.equal(r[2]?.error?.code, -32601);
      assert.equal(r[3]?.error?.code, -32602);
      assert.equal(r[3]?.id, 3);
    }
  });

  it("refuses a batch above maxBatch with one -32600 naming the limit", async () => {
    const body = JSON.stringify(
      Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "eth_chainId" })),
    );
    const { http, ws } = await both(body);
    for (const text of [http, ws]) {
      const r = assertError(text, -32600);
      assert.match(r.error?.message ?? "", new RegExp(`limit of ${MAX_BATCH}`));
    }
  });

  it("accepts a batch of exactly maxBatch", async () => {
    const body = JSON.stringify(
      Array.from({ length: MAX_BATCH }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "eth_blockNumber" })),
    );
    const r = JSON.parse((await post(body)).text) as Reply[];
    assert.equal(r.length, MAX_BATCH);
    assert.ok(r.every((x) => x.result === "0x5"));
  });

  it("sends nothing for notifications only: HTTP 204, no WebSocket message", async () => {
    const body = JSON.stringify([
      { jsonrpc: "2.0", method: "eth_chainId" },
      { jsonrpc: "2.0", method: "eth_nope" },
    ]);
    const h = await post(body);
    assert.equal(h.status, 204);
    assert.equal(h.text, "");
    const single = await post('{"jsonrpc":"2.0","method":"eth_blockNumber"}');
    assert.equal(single.status, 204);
    const ws = await WsClient.connect(wsUrl);
    try {
      ws.send(body);
      const next = await ws.call({ jsonrpc: "2.0", id: 9, method: "eth_chainId" });
      assert.deepEqual(next, { jsonrpc: "2.0", id: 9, result: "0x7a69" });
    } finally {
      ws.close();
    }
  });
});

describe("HTTP transport", () => {
  it("answers a body above maxBodyBytes with HTTP 413 and a JSON-RPC error", async () => {
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "eth_chainId",
      params: ["x".repeat(MAX_BODY)],
    });
    const res = await post(big);
    assert.equal(res.status, 413);
    const r = assertError(res.text, -32600);
    assert.match(r.error?.message ?? "", new RegExp(String(MAX_BODY)));
    // The server keeps serving.
    assert.equal((await post('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')).status, 200);
  });

  it("answers wrong verbs with 405 and unknown paths with 404", async () => {
    assert.equal((await fetch(url)).status, 405);
    assert.equal((await fetch(url, { method: "PUT", body: "{}" })).status, 405);
    assert.equal((await fetch(`${url}/nope`)).status, 404);
    assert.equal((await post('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', "/rpc")).status, 404);
  });

  it("serves /health: 200 with the height when serving, 503 before the first block", async () => {
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok", height: 5 });
    const empty = new MemoryView(fx.view.chainId);
    const s = new RpcServer(
      { rpcPort: 0 },
      { view: empty, events: new ChainEventEmitter(), logger: silentLogger() },
    );
    const { port } = await s.start();
    try {
      assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 503);
      const r = await fetch(`http://127.0.0.1:${port}`, {
        method: "POST",
        body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}',
      });
      assert.equal(((await r.json()) as Reply).error?.code, -32000);
    } finally {
      await s.close();
    }
  });

  it("serves Prometheus metrics at /metrics", async () => {
    await post('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}');
    await post('{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[]}');
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /chainkeep_rpc_requests_total\{method="eth_chainId",transport="http"\} \d+/);
    assert.match(text, /chainkeep_rpc_request_duration_seconds_bucket\{le="[^"]+",method="eth_chainId"\}/);
    assert.match(text, /chainkeep_rpc_errors_total\{method="eth_getBalance",code="-32602"\} \d+/);
  });

  it("keeps connections alive", async () => {
    const res = await fetch(url, { method: "POST", body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}' });
    await res.text();
    assert.notEqual(res.headers.get("connection"), "close");
  });
});

describe("WebSocket transport", () => {
  it("closes a connection whose message exceeds maxBodyBytes (1009)", async () => {
    const ws = await WsClient.connect(wsUrl);
    ws.send("x".repeat(MAX_BODY + 1));
    assert.equal(await ws.closed, 1009);
  });

  it("refuses upgrades on other paths", async () => {
    const port = new URL(url).port;
    await assert.rejects(WsClient.connect(`ws://127.0.0.1:${port}/other`));
  });

  it("has eth_subscribe, which HTTP does not", async () => {
    const h = JSON.parse(
      (await post('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')).text,
    );
    assert.equal(h.error.code, -32601);
    const ws = await WsClient.connect(wsUrl);
    try {
      const r = (await ws.call({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_subscribe",
        params: ["newHeads"],
      })) as Reply;
      assert.match(String(r.result), /^0x[0-9a-f]{32}$/);
      const bad = (await ws.call({
        jsonrpc: "2.0",
        id: 2,
        method: "eth_subscribe",
        params: ["nope"],
      })) as Reply;
      assert.equal(bad.error?.code, -32602);
    } finally {
      ws.close();
    }
  });
});

// A small deterministic PRNG (xorshift32), so a failing fuzz case can be replayed.
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

const METHOD_NAMES = [
  "eth_chainId",
  "eth_blockNumber",
  "eth_getBalance",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_getLogs",
  "eth_getStorageAt",
  "eth_feeHistory",
  "eth_getTransactionByBlockNumberAndIndex",
  "eth_getBlockReceipts",
  "eth_getCode",
  "eth_subscribe",
  "eth_unsubscribe",
  "net_version",
  "nope",
];

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 7 : 10));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor(r() * 2 ** 40) * (r() < 0.2 ? -1 : 1);
    case 3:
      return r() * 1e6;
    case 4:
      return [
        "latest",
        "pending",
        "earliest",
        "safe",
        "finalized",
        "0x1",
        "0x",
        "0xzz",
        "",
        "0x5fbdb2315678afecb367f032d93f642f64180aa3",
      ][Math.floor(r() * 10)];
    case 5:
      return `0x${Math.floor(r() * 2 ** 48).toString(16)}`;
    case 6:
      return `0x${"ab".repeat(Math.floor(r() * 40))}`;
    case 7:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const keys = ["fromBlock", "toBlock", "address", "topics", "blockHash", "to", "data", "x", "__proto__"];
      for (let i = Math.floor(r() * 4); i > 0; i--)
        o[keys[Math.floor(r() * keys.length)] as string] = randomValue(r, depth + 1);
      return o;
    }
  }
}

function randomBody(r: () => number): string {
  const kind = Math.floor(r() * 6);
  if (kind === 0) {
    // Bytes, mostly printable, some invalid UTF-8.
    const n = Math.floor(r() * 200);
    return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))).toString("latin1");
  }
  const req = () => {
    const o: Record<string, unknown> = {
      jsonrpc: r() < 0.9 ? "2.0" : randomValue(r),
      method: r() < 0.9 ? METHOD_NAMES[Math.floor(r() * METHOD_NAMES.length)] : randomValue(r),
      params: r() < 0.8 ? Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r)) : randomValue(r),
    };
    if (r() < 0.9) o.id = r() < 0.8 ? Math.floor(r() * 1000) : randomValue(r);
    return o;
  };
  const text =
    kind === 1
      ? JSON.stringify(randomValue(r))
      : kind === 2
        ? JSON.stringify(Array.from({ length: Math.floor(r() * (MAX_BATCH + 3)) }, req))
        : JSON.stringify(req());
  // Sometimes cut or corrupt valid JSON.
  if (r() < 0.15) return text.slice(0, Math.floor(r() * text.length));
  if (r() < 0.1) return text.replace(/[{}[\]",:]/, "");
  return text;
}

function assertWellFormed(text: string, body: string): void {
  const parsed = JSON.parse(text) as Reply | Reply[];
  for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
    assert.equal(r.jsonrpc, "2.0", `for ${body}`);
    assert.ok("id" in r, `for ${body}`);
    assert.ok((r.result !== undefined) !== (r.error !== undefined), `result xor error for ${body}: ${text}`);
    if (r.error) assert.ok(ALLOWED_CODES.has(r.error.code), `unexpected code for ${body}: ${text}`);
  }
}

describe("fuzz", () => {
  it("answers 300 random HTTP bodies with well-formed JSON-RPC and stays up", async () => {
    const r = rng(0xc0ffee);
    for (let i = 0; i < 300; i++) {
      const body = randomBody(r);
      const res = await post(body);
      if (res.status === 204) continue;
      assert.equal(res.status, 200, `status for ${body}`);
      assertWellFormed(res.text, body);
    }
    assert.deepEqual(
      JSON.parse((await post('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')).text).result,
      "0x7a69",
    );
  });

  it("answers 150 random WebSocket messages on one connection and stays up", async () => {
    const r = rng(0xbadf00d);
    const ws = await WsClient.connect(wsUrl);
    try {
      for (let i = 0; i < 150; i++) {
        const body = randomBody(r);
        ws.send(body);
        // A marker request after each message: everything before it has been answered.
        ws.send('{"jsonrpc":"2.0","id":"marker","method":"eth_chainId"}');
        for (;;) {
          const text = await ws.next();
          const m = JSON.parse(text) as Reply;
          if (!Array.isArray(m) && m.id === "marker" && m.result === "0x7a69") break;
          if (!Array.isArray(m) && (m as { method?: string }).method === "eth_subscription") continue;
          assertWellFormed(text, body);
        }
      }
    } finally {
      ws.close();
    }
  });
});
