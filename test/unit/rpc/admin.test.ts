/** The reader's admin methods: off unless enabled (-32601), parameters validated, errors mapped. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ChainEventEmitter, type ReaderAdmin, RpcError, RpcServer } from "../../../src/rpc/index.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import type { ChainView } from "../../../src/view/index.ts";

const calls: unknown[][] = [];
const admin: ReaderAdmin = {
  async backtrack(height) {
    calls.push(["backtrack", height]);
    if (height > 1000) throw new RpcError("RPC_INVALID_PARAMS", "above the applied height");
    return { from: 1000, to: height };
  },
  async switchPrefix(prefix) {
    calls.push(["switchPrefix", prefix]);
    return prefix === "primary" ? undefined : { prefix, height: 936 };
  },
  async status() {
    return { height: 1000, prefix: "primary" };
  },
};

// The admin methods read nothing from the chain.
const view = { chainId: 31337 } as unknown as ChainView;

async function call(url: string, method: string, params: unknown[] = []) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
}

describe("admin methods", () => {
  const servers: RpcServer[] = [];
  let on: string;
  let off: string;

  before(async () => {
    for (const adminEnabled of [true, false]) {
      const s = new RpcServer(
        { rpcPort: 0, admin: adminEnabled },
        { view, events: new ChainEventEmitter(), logger: silentLogger(), admin },
      );
      servers.push(s);
      const { port } = await s.start();
      if (adminEnabled) on = `http://127.0.0.1:${port}/`;
      else off = `http://127.0.0.1:${port}/`;
    }
  });

  after(async () => {
    for (const s of servers) await s.close();
  });

  it("do not exist unless the server runs with adminEnabled", async () => {
    for (const [m, p] of [
      ["chainkeep_backtrack", [1]],
      ["chainkeep_switchPrefix", ["standby"]],
      ["chainkeep_readerStatus", []],
    ] as const) {
      assert.equal((await call(off, m, [...p])).error?.code, -32601, m);
    }
    assert.equal(calls.length, 0);
  });

  it("chainkeep_backtrack takes a hex or integer height and answers what was unwound", async () => {
    assert.deepEqual((await call(on, "chainkeep_backtrack", ["0x10"])).result, { from: 1000, to: 16 });
    assert.deepEqual((await call(on, "chainkeep_backtrack", [17])).result, { from: 1000, to: 17 });
    assert.equal((await call(on, "chainkeep_backtrack", ["latest"])).error?.code, -32602);
    assert.equal((await call(on, "chainkeep_backtrack", [-1])).error?.code, -32602);
    assert.equal((await call(on, "chainkeep_backtrack", [])).error?.code, -32602);
    assert.equal((await call(on, "chainkeep_backtrack", [5000])).error?.code, -32602);
  });

  it("chainkeep_switchPrefix validates the prefix; null when already followed", async () => {
    assert.deepEqual((await call(on, "chainkeep_switchPrefix", ["standby"])).result, {
      prefix: "standby",
      height: 936,
    });
    assert.equal((await call(on, "chainkeep_switchPrefix", ["primary"])).result, null);
    assert.equal((await call(on, "chainkeep_switchPrefix", ["../etc"])).error?.code, -32602);
    assert.deepEqual((await call(on, "chainkeep_readerStatus")).result, { height: 1000, prefix: "primary" });
  });
});
