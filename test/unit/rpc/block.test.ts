/** The block-parameter resolver and the block parameter schemas. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EvmError } from "../../../src/evm/index.ts";
import { type BlockEnv, type BlockSpec, resolveBlock, resolveStateHeight } from "../../../src/rpc/block.ts";
import { toJsonRpcError } from "../../../src/rpc/errors.ts";
import { RpcError } from "../../../src/rpc/index.ts";
import { blockId, blockNumberOrTag } from "../../../src/rpc/schemas.ts";
import { StoreError } from "../../../src/store/index.ts";
import { ChainkeepError } from "../../../src/util/errors.ts";
import type { Hex } from "../../../src/util/hex.ts";
import { ReadError } from "../../../src/view/index.ts";
import { buildFixture, type Fixture, MemoryView } from "./fixture.ts";

const UNKNOWN_HASH: Hex = `0x${"12".repeat(32)}`;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ChainkeepError) return err.code;
    throw err;
  }
  return undefined;
}

describe("block parameter schemas", () => {
  it("parses numbers and tags for block-number methods", () => {
    const ok: [unknown, BlockSpec][] = [
      ["latest", { kind: "tag", tag: "latest" }],
      ["LATEST", { kind: "tag", tag: "latest" }],
      ["pending", { kind: "tag", tag: "pending" }],
      ["safe", { kind: "tag", tag: "safe" }],
      ["finalized", { kind: "tag", tag: "finalized" }],
      ["earliest", { kind: "tag", tag: "earliest" }],
      ["0x1", { kind: "number", number: 1 }],
      ["0x01", { kind: "number", number: 1 }],
      ["0xffffffffffffffff", { kind: "number", number: 2 ** 64 }],
      ["12", { kind: "number", number: 12 }],
      [12, { kind: "number", number: 12 }],
    ];
    for (const [input, want] of ok) assert.deepEqual(blockNumberOrTag.parse(input), want, String(input));
    for (const bad of [
      "0x",
      "abc",
      "0x1g",
      "0x10000000000000000",
      null,
      -1,
      1.5,
      {},
      { blockNumber: "0x1" },
      true,
    ]) {
      assert.equal(blockNumberOrTag.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it("parses EIP-1898 block identifiers for state methods", () => {
    const hash: Hex = `0x${"ab".repeat(32)}`;
    const ok: [unknown, BlockSpec][] = [
      [null, { kind: "tag", tag: "latest" }],
      ["latest", { kind: "tag", tag: "latest" }],
      ["0x2", { kind: "number", number: 2 }],
      [hash.toUpperCase().replace("0X", "0x"), { kind: "hash", hash, requireCanonical: false }],
      [{ blockHash: hash }, { kind: "hash", hash, requireCanonical: false }],
      [
        { blockHash: hash, requireCanonical: true },
        { kind: "hash", hash, requireCanonical: true },
      ],
      [{ blockNumber: "0x3" }, { kind: "number", number: 3 }],
      [{ blockNumber: "latest" }, { kind: "tag", tag: "latest" }],
    ];
    for (const [input, want] of ok) assert.deepEqual(blockId.parse(input), want, JSON.stringify(input));
    const bad = [
      1,
      "1",
      "0x",
      {},
      { blockHash: hash, blockNumber: "0x1" },
      { blockHash: hash, foo: 1 },
      { blockHash: hash, requireCanonical: "yes" },
      { blockHash: "0x12" },
      { blockNumber: 1 },
      [],
    ];
    for (const b of bad) assert.equal(blockId.safeParse(b).success, false, JSON.stringify(b));
  });
});

describe("block resolution", () => {
  let fx: Fixture;
  let env: BlockEnv;
  const tag = (t: "latest" | "pending" | "safe" | "finalized" | "earliest"): BlockSpec => ({
    kind: "tag",
    tag: t,
  });
  const num = (n: number): BlockSpec => ({ kind: "number", number: n });

  before(async () => {
    fx = await buildFixture();
    env = { view: fx.view, hasUpstream: false };
  });
  after(async () => {
    fx.view.earliestHeight = 0;
    await fx?.anvil.stop();
  });

  it("resolves tags: pending is latest, safe/finalized from the tip, earliest is 0", () => {
    assert.equal(resolveBlock(env, tag("latest")), 5);
    assert.equal(resolveBlock(env, tag("pending")), 5);
    assert.equal(resolveBlock(env, tag("safe")), 0);
    assert.equal(resolveBlock(env, tag("finalized")), 0);
    assert.equal(resolveBlock(env, tag("earliest")), 0);
    assert.equal(resolveStateHeight(env, tag("pending")), 5);
  });

  it("resolves hashes (EIP-1898) to held heights", () => {
    const hash = fx.view.block(3)?.hash as Hex;
    assert.equal(resolveBlock(env, { kind: "hash", hash, requireCanonical: false }), 3);
    assert.equal(resolveStateHeight(env, { kind: "hash", hash, requireCanonical: true }), 3);
  });

  it("answers null for blocks above the tip or unknown hashes, errors for state there", () => {
    assert.equal(resolveBlock(env, num(6)), undefined);
    assert.equal(resolveBlock(env, { kind: "hash", hash: UNKNOWN_HASH, requireCanonical: false }), undefined);
    let msg = "";
    try {
      resolveStateHeight(env, num(16));
    } catch (err) {
      assert.equal((err as ChainkeepError).code, "RPC_INVALID_PARAMS");
      msg = (err as Error).message;
    }
    // anvil's own message for a block above its head.
    assert.equal(msg, "BlockOutOfRangeError: block height is 5 but requested was 16");
    const unknown = code(() =>
      resolveStateHeight(env, { kind: "hash", hash: UNKNOWN_HASH, requireCanonical: false }),
    );
    assert.equal(unknown, "BLOCK_NOT_FOUND");
  });

  it("below the earliest held block: forwards when an upstream can answer", () => {
    fx.view.earliestHeight = 2;
    try {
      assert.equal(resolveBlock(env, num(1)), undefined);
      assert.equal(resolveBlock(env, tag("earliest")), undefined);
      assert.equal(
        code(() => resolveStateHeight(env, num(1))),
        "STATE_UNAVAILABLE",
      );
      const up: BlockEnv = { view: fx.view, hasUpstream: true };
      assert.equal(
        code(() => resolveBlock(up, num(1))),
        "STATE_UNAVAILABLE",
      );
      assert.equal(
        code(() => resolveBlock(up, { kind: "hash", hash: UNKNOWN_HASH, requireCanonical: false })),
        "STATE_UNAVAILABLE",
      );
      assert.equal(
        code(() => resolveStateHeight(up, tag("earliest"))),
        "STATE_UNAVAILABLE",
      );
      assert.equal(resolveBlock(up, num(2)), 2);
    } finally {
      fx.view.earliestHeight = 0;
    }
  });

  it("fails with RPC_NOT_READY before the first block", () => {
    const empty: BlockEnv = { view: new MemoryView(31337), hasUpstream: false };
    assert.equal(
      code(() => resolveBlock(empty, tag("latest"))),
      "RPC_NOT_READY",
    );
    assert.equal(
      code(() => resolveStateHeight(empty, num(0))),
      "RPC_NOT_READY",
    );
  });
});

describe("error mapping", () => {
  it("maps every error code to one JSON-RPC error, hiding internals", () => {
    const cases: [ChainkeepError | Error, number, string?][] = [
      [new RpcError("RPC_PARSE", "p"), -32700],
      [new RpcError("RPC_INVALID_REQUEST", "r"), -32600],
      [new RpcError("RPC_METHOD_NOT_FOUND", "m"), -32601],
      [new RpcError("RPC_INVALID_PARAMS", "x"), -32602, "x"],
      [new RpcError("RPC_LIMIT", "l"), -32005],
      [new ReadError("STATE_UNAVAILABLE", "s"), -32000, "state not available"],
      [new ReadError("BLOCK_NOT_FOUND", "b"), -32001, "Resource not found"],
      [new RpcError("RPC_SERVER_ERROR", "unknown block"), -32000, "unknown block"],
      [new StoreError("STORE_IO", "disk /x failed"), -32603, "Internal error"],
      [new Error("secret"), -32603, "Internal error"],
    ];
    for (const [err, c, m] of cases) {
      const e = toJsonRpcError(err);
      assert.equal(e.code, c, err.message);
      if (m) assert.equal(e.message, m);
    }
  });

  it("passes EVM and upstream errors through verbatim", () => {
    const reverted = new EvmError("EVM_REVERTED", "reverted", {
      rpcCode: 3,
      rpcMessage: "execution reverted: no",
      rpcData: "0x08c379a0",
    });
    assert.deepEqual(toJsonRpcError(reverted), {
      code: 3,
      message: "execution reverted: no",
      data: "0x08c379a0",
    });
    const up = new RpcError("RPC_UPSTREAM", "u", { rpcCode: -32003, rpcMessage: "Insufficient funds" });
    assert.deepEqual(toJsonRpcError(up), { code: -32003, message: "Insufficient funds" });
  });
});
