/**
 * Differential tests of local eth_call / eth_estimateGas against a real anvil: the same requests,
 * at the same blocks, must give the same JSON answer (result, or error code + message + data).
 * The state source is anvil's own JSON-RPC at the block, so any difference is the EVM's.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { type Abi, encodeDeployData, encodeFunctionData } from "viem";
import {
  type CallRequest,
  decodeRevertReason,
  type EvmStateSource,
  estimateGas,
  ethCall,
  nextBlockEnv,
} from "../../../src/evm/index.ts";
import { ChainkeepError, isErrorCode } from "../../../src/util/errors.ts";
import { type Hex, toQuantity } from "../../../src/util/hex.ts";
import type { ChainView } from "../../../src/view/index.ts";
import { type AnvilInstance, startAnvil } from "../../helpers/anvil.ts";
import { RpcStateSource } from "./rpc-source.ts";

// The reader's view is a state source as it is.
const _viewIsSource = (view: ChainView): EvmStateSource => view;
void _viewIsSource;

interface Artifact {
  abi: Abi;
  bytecode: Hex;
}
const artifacts = JSON.parse(
  readFileSync(new URL("../../../src/demo/contracts.json", import.meta.url), "utf8"),
) as Record<string, Artifact>;
const art = (name: string): Artifact => artifacts[name] as Artifact;
const call = (name: string, functionName: string, args: unknown[] = []): Hex =>
  encodeFunctionData({ abi: art(name).abi, functionName, args });

const ACCOUNT0: Hex = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const ACCOUNT1: Hex = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const POOR: Hex = "0x1000000000000000000000000000000000000001";
const FRESH: Hex = "0x2000000000000000000000000000000000000002";

/** Init code that returns (`f3`) or reverts with (`fd`) `payload`. */
function emit(payload: string, op: "f3" | "fd"): Hex {
  const len = (payload.length / 2).toString(16).padStart(4, "0");
  return `0x61${len}600e60003961${len}6000${op}${payload}`;
}
const enc = (s: string) => Buffer.from(s).toString("hex");
const word = (n: number | bigint) => n.toString(16).padStart(64, "0");
const errorString = (hexBytes: string) =>
  `08c379a0${word(32)}${word(hexBytes.length / 2)}${hexBytes.padEnd(Math.ceil(hexBytes.length / 64) * 64, "0")}`;

type Answer = { result: unknown } | { error: { code: number; message: string; data?: unknown } };

function ours(err: unknown): Answer {
  if (err instanceof ChainkeepError && typeof err.meta.rpcCode === "number") {
    const e: { code: number; message: string; data?: unknown } = {
      code: err.meta.rpcCode,
      message: err.meta.rpcMessage as string,
    };
    if (err.meta.rpcData !== undefined) e.data = err.meta.rpcData;
    return { error: e };
  }
  throw err;
}

describe("eth_call / eth_estimateGas against anvil", { timeout: 60_000 }, () => {
  let anvil: AnvilInstance;
  let src: RpcStateSource;
  const c: Record<string, Hex> = {};
  /** Heights worth calling at: before and after storage changes, and the head. */
  const h: Record<string, number> = {};

  async function rpc<T>(method: string, params: unknown[] = []): Promise<T> {
    const res = await anvil.rpc(method, params);
    if (res.error) throw new Error(`${method}: ${res.error.message}`);
    return res.result as T;
  }
  async function send(
    tx: Record<string, unknown>,
  ): Promise<{ contractAddress: Hex | null; blockNumber: Hex }> {
    const hash = await rpc<Hex>("eth_sendTransaction", [{ from: ACCOUNT0, ...tx }]);
    // Automine answers before the block is in place when the machine is busy: wait for it.
    for (;;) {
      const receipt = await rpc<{ contractAddress: Hex | null; blockNumber: Hex } | null>(
        "eth_getTransactionReceipt",
        [hash],
      );
      if (receipt !== null) return receipt;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  async function deploy(name: string, args: unknown[] = []): Promise<Hex> {
    const data = encodeDeployData({ abi: art(name).abi, bytecode: art(name).bytecode, args });
    const rc = await send({ data });
    return rc.contractAddress as Hex;
  }
  const head = async () => Number(await rpc<Hex>("eth_blockNumber"));

  async function compare(
    method: "eth_call" | "eth_estimateGas",
    req: CallRequest,
    height: number,
  ): Promise<void> {
    let mine: Answer;
    try {
      const fn = method === "eth_call" ? ethCall : estimateGas;
      mine = { result: await fn(src, req, height) };
    } catch (err) {
      mine = ours(err);
    }
    const res = await anvil.rpc(method, [req, toQuantity(height)]);
    const theirs: Answer = res.error ? { error: res.error } : { result: res.result };
    assert.deepEqual(mine, theirs, `${method} ${JSON.stringify(req)} at ${height}`);
  }
  async function both(req: CallRequest, heights: number[]): Promise<void> {
    for (const height of heights) {
      await compare("eth_call", req, height);
      await compare("eth_estimateGas", req, height);
    }
  }

  before(async () => {
    anvil = await startAnvil();
    src = new RpcStateSource((m, p) => anvil.rpc(m, p), anvil.chainId);
    h.genesis = 0;
    c.probe = await deploy("Probe");
    c.reverter = await deploy("Reverter");
    c.store = await deploy("Store");
    c.caller = await deploy("Caller");
    c.token = await deploy("Token", ["T", "T", [ACCOUNT0, c.caller], 10n ** 21n]);
    h.deployed = await head();
    await send({ to: c.store, data: call("Store", "set", [1n, 100n]) });
    await send({ to: c.store, data: call("Store", "fill", [10n, 3n, `0x${word(7)}`]) });
    h.first = await head();
    await rpc("evm_increaseTime", [120]);
    await rpc("evm_mine");
    await send({ to: c.store, data: call("Store", "set", [1n, 200n]) });
    await send({ to: c.store, data: call("Store", "clear", [1n]) });
    await send({ to: FRESH, value: "0x1234" });
    await send({ to: c.probe, data: call("Probe", "burn", [10n]) });
    await rpc("anvil_setCoinbase", ["0x00000000000000000000000000000000000c0ffe"]);
    await rpc("evm_mine");
    await rpc("evm_mine");
    h.latest = await head();
  });

  after(async () => {
    await anvil?.stop();
  });

  test("block environment probes at the head and at older blocks", async () => {
    const heights = [h.latest as number, h.first as number, h.deployed as number];
    for (const fn of [
      "blockNumber",
      "timestamp",
      "basefee",
      "prevrandao",
      "coinbase",
      "gasLimit",
      "chainId",
    ]) {
      await both({ to: c.probe, data: call("Probe", fn) }, heights);
    }
    await both({ to: c.probe, data: call("Probe", "context") }, heights);
    const n = h.latest as number;
    for (const k of [n - 1, n - 2, 1, 0, n, n + 1]) {
      await both({ to: c.probe, data: call("Probe", "blockHash", [BigInt(k)]) }, [n]);
    }
    await both({ to: c.probe, data: call("Probe", "blockHash", [BigInt((h.first as number) - 1)]) }, [
      h.first as number,
    ]);
    // Raw opcodes, without a contract: BLOBBASEFEE, GASPRICE, ORIGIN, CALLER, CHAINID.
    for (const op of ["4a", "3a", "32", "33", "46", "47", "5a"]) {
      await both({ data: `0x${op}60005260206000f3` }, [n]);
    }
  });

  test("account and storage reads at several heights", async () => {
    const heights = [h.latest as number, h.first as number, h.deployed as number, 1];
    for (const who of [ACCOUNT0, FRESH, POOR, c.store as Hex]) {
      await both({ to: c.probe, data: call("Probe", "balanceOf", [who]) }, heights);
    }
    for (const who of [c.store as Hex, FRESH, c.probe as Hex]) {
      await both({ to: c.probe, data: call("Probe", "codeSize", [who]) }, heights);
      await both({ to: c.probe, data: call("Probe", "codeHash", [who]) }, heights);
    }
    for (const key of [1n, 2n]) await both({ to: c.store, data: call("Store", "values", [key]) }, heights);
    await both({ to: c.store, data: call("Store", "writes") }, heights);
    await both({ to: c.store, data: call("Store", "getRaw", [`0x${word(11)}`]) }, heights);
    await both({ to: c.token, data: call("Token", "balanceOf", [c.caller]) }, heights);
    await both({ to: c.token, data: call("Token", "name") }, [h.latest as number]);
  });

  test("state-changing calls, calls between contracts and gas estimation", async () => {
    const n = [h.latest as number];
    await both({ from: ACCOUNT0, to: c.store, data: call("Store", "set", [5n, 6n]) }, [
      ...n,
      h.first as number,
    ]);
    await both({ from: ACCOUNT0, to: c.store, data: call("Store", "set", [1n, 0n]) }, n);
    await both({ to: c.store, data: call("Store", "clear", [11n]) }, n); // refund
    await both({ to: c.store, data: call("Store", "fill", [100n, 25n, `0x${word(1)}`]) }, n);
    await both({ to: c.probe, data: call("Probe", "burn", [200n]) }, n);
    await both({ to: c.probe, data: call("Probe", "burnView", [300n]) }, n);
    await both({ to: c.caller, data: call("Caller", "callStore", [c.store, 9n, 9n]) }, n);
    await both({ to: c.caller, data: call("Caller", "nested", [c.store, 6n, 3n]) }, n);
    await both({ to: c.caller, data: call("Caller", "delegateSet", [c.store, 4n, 4n]) }, n);
    await both({ to: c.caller, data: call("Caller", "callToken", [c.token, ACCOUNT1, 5n]) }, n);
    await both({ to: c.caller, data: call("Caller", "callToken", [c.token, ACCOUNT1, 10n ** 30n]) }, n);
    const failing = call("Reverter", "fail", ["inner"]);
    await both({ to: c.caller, data: call("Caller", "tryCall", [c.reverter, failing]) }, n);
    await both({ to: c.caller, data: call("Caller", "deployChild", [`0x${word(1)}`, 3n]), value: "0x5" }, n);
    await both({ to: c.caller, data: call("Caller", "childAddress", [`0x${word(1)}`, 3n]) }, n);
    await both({ to: c.token, from: ACCOUNT0, data: call("Token", "transfer", [ACCOUNT1, 1n]) }, n);
    // Gas-sensitive: succeeds only with enough gas left, so the binary search must find the edge.
    await both({ to: c.probe, data: call("Probe", "needGas", [100_000n]) }, n);
    await both({ to: c.probe, data: call("Probe", "needGas", [29_990_000n]) }, n);
    await both({ to: c.probe, data: call("Probe", "gasLeft") }, n);
    await both({ to: c.probe, data: call("Probe", "gasLeft"), gas: "0x30000" }, n);
    // Contract creation: eth_call returns the deployed code.
    await both({ from: ACCOUNT0, data: art("Store").bytecode }, n);
    await both(
      { data: encodeDeployData({ abi: art("Child").abi, bytecode: art("Child").bytecode, args: [7n] }) },
      n,
    );
  });

  test("reverts: reason, custom error, panic, bare, and odd revert data", async () => {
    const n = [h.latest as number];
    await both({ to: c.reverter, data: call("Reverter", "fail", ["boom"]) }, n);
    await both({ to: c.reverter, data: call("Reverter", "fail", [""]) }, n);
    await both({ to: c.reverter, data: call("Reverter", "fail", ["ünïcödé ✓"]) }, n);
    await both({ to: c.reverter, data: call("Reverter", "failCustom", [7n]) }, n);
    await both({ to: c.reverter, data: call("Reverter", "failPanic") }, n);
    await both({ to: c.reverter, data: call("Reverter", "check", [false]) }, n);
    await both({ to: c.reverter, data: call("Reverter", "check", [true]) }, n);
    await both({ to: c.reverter, data: call("Reverter", "checkCustom", [3n]) }, n);
    await both({ to: c.caller, data: call("Caller", "callStore", [c.reverter, 1n, 1n]) }, n);
    await both({ to: c.probe, data: "0xdeadbeef" }, n); // no such function, no fallback
    await both({ to: c.probe, value: "0x1", from: ACCOUNT0 }, n); // no receive
    const raw = [
      "",
      "0102",
      "ff",
      enc("plain ascii reason"),
      errorString(enc("nope")),
      errorString("fffe41"),
      `08c379a0${word(0xff)}`,
      `4e487b71${word(0x11)}`,
      `4e487b71${word(0x99)}`,
      `deadbeef${word(1)}`,
      `deadbeef${"ff".repeat(40)}`,
      `cafebabe${enc("utf8 tail")}`,
      `${word(32)}${word(5)}${enc("hello").padEnd(64, "0")}`,
    ];
    for (const payload of raw) await both({ data: emit(payload, "fd") }, n);
  });

  test("halts: out of gas, invalid opcodes, stack and memory errors, precompiles", async () => {
    const n = [h.latest as number];
    const cases: CallRequest[] = [
      { data: "0xfe" },
      { data: "0x0c" },
      { data: "0x4b" },
      { data: "0x600056" },
      { data: "0x01" },
      { data: "0x5f5f5f89" },
      { data: "0x5b6000600056" },
      { data: "0x5b600056", gas: "0x30000" },
      { data: "0x600163400000005200" }, // MSTORE at 1 GiB with the default gas
      { data: "0x600161ffff52", gas: "0xd000" },
      { data: "0x600163ffffffe052" },
      { data: "0x60016901000000000000000000005200" },
      { data: "0x6180016000f3" }, // deploys 0x8001 bytes: over the code size limit
      { data: "0x60ef60005360016000f3" }, // deploys code starting with 0xef
      { data: `0x${"00".repeat(49153)}` }, // init code over the EIP-3860 limit
      { to: c.store, data: call("Store", "set", [77n, 1n]), gas: "0x6000" },
      { to: c.store, data: call("Store", "set", [77n, 1n]), gas: "0xb000" },
      { to: c.probe, data: call("Probe", "burnView", [100_000n]), gas: "0x100000" },
      { to: "0x0000000000000000000000000000000000000006", data: `0x${"ff".repeat(64)}` },
      { to: "0x0000000000000000000000000000000000000002", data: `0x${"ff".repeat(640)}`, gas: "0x5800" },
      { to: "0x0000000000000000000000000000000000000002", data: `0x${"ff".repeat(64)}` },
      { to: "0x0000000000000000000000000000000000000001", data: `0x${"01".repeat(128)}` },
      { to: "0x0000000000000000000000000000000000000005", data: "0x" },
      { to: "0x000000000000000000000000000000000000000a", data: `0x${"00".repeat(192)}` },
      { to: "0x000000000000000000000000000000000000000a", data: "0x00" },
    ];
    for (const req of cases) await both(req, n);
  });

  test("value transfers, fees, defaults and validation errors", async () => {
    const n = [h.latest as number];
    const cases: CallRequest[] = [
      { from: ACCOUNT0, to: FRESH, value: "0x10" },
      { from: POOR, to: FRESH, value: "0x1" },
      { from: POOR, to: c.caller, value: "0x1" },
      { from: POOR, to: c.probe, data: call("Probe", "sender") },
      { to: c.probe, data: call("Probe", "sender") },
      { from: ACCOUNT0, to: c.caller, value: "0x10" },
      { from: ACCOUNT0, to: c.caller, data: call("Caller", "forward", [FRESH]), value: "0x100" },
      { from: ACCOUNT0, to: c.caller, data: call("Caller", "forward", [c.probe]), value: "0x100" },
      { from: POOR, to: c.caller, data: call("Caller", "forward", [FRESH]), value: "0x100" },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "gasPrice"), gasPrice: "0x3b9aca00" },
      {
        from: ACCOUNT0,
        to: c.probe,
        data: call("Probe", "gasPrice"),
        maxFeePerGas: "0x174876e800",
        maxPriorityFeePerGas: "0x3",
      },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "gasPrice"), maxFeePerGas: "0x5" },
      {
        from: ACCOUNT0,
        to: c.probe,
        data: call("Probe", "gasPrice"),
        maxFeePerGas: "0x1",
        maxPriorityFeePerGas: "0x2",
      },
      { from: POOR, to: c.probe, data: call("Probe", "gasPrice"), gasPrice: "0x1" },
      { to: c.probe, data: call("Probe", "gasPrice"), gasPrice: "0x1" },
      {
        from: ACCOUNT0,
        to: c.probe,
        data: call("Probe", "balanceOf", [ACCOUNT0]),
        gasPrice: "0x3b9aca00",
        gas: "0x20000",
      },
      {
        from: ACCOUNT0,
        to: c.probe,
        data: call("Probe", "needGas", [50_000n]),
        gasPrice: "0x1",
        gasPrice2: undefined,
      } as CallRequest,
      {
        from: ACCOUNT0,
        to: c.probe,
        data: call("Probe", "blockNumber"),
        gasPrice: "0x1",
        maxFeePerGas: "0x2",
      },
      {
        from: ACCOUNT0,
        to: c.probe,
        data: call("Probe", "blockNumber"),
        accessList: [{ address: c.probe as Hex, storageKeys: [`0x${word(0)}`] }],
      },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "blockNumber"), accessList: [] },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "blockNumber"), type: "0x0" },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "blockNumber"), type: "0x2", gasPrice: "0x1" },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "blockNumber"), nonce: "0x99" },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "blockNumber"), chainId: "0x1" },
      {
        from: ACCOUNT0,
        to: c.probe,
        input: call("Probe", "blockNumber"),
        data: call("Probe", "blockNumber"),
      },
      { from: ACCOUNT0, to: c.probe, data: call("Probe", "blockNumber"), gas: "0x5000" },
      { from: ACCOUNT0, to: c.probe, data: `0x${"00".repeat(2000)}`, gas: "0x8000" }, // EIP-7623 floor
      { from: ACCOUNT0, to: FRESH, gas: "0x5000" },
      { from: c.probe as Hex, to: FRESH }, // EIP-3607 off
      { to: FRESH, data: "0x00" },
    ];
    for (const req of cases) await both(req, n);
  });

  test("anvil's pending block, used by eth_estimateGas without a block parameter", async () => {
    const n = h.latest as number;
    const parent = await src.block(n);
    assert.ok(parent);
    const env = nextBlockEnv(parent, BigInt(Math.floor(Date.now() / 1000)));
    // NUMBER, BASEFEE, PREVRANDAO, COINBASE, GASLIMIT, BLOBBASEFEE (TIMESTAMP is anvil's wall clock).
    for (const op of ["43", "48", "44", "41", "45", "4a"]) {
      const req = { data: `0x${op}60005260206000f3` as Hex };
      const res = await anvil.rpc("eth_call", [req, "pending"]);
      assert.equal(await ethCall(src, req, n, { env }), res.result, `opcode ${op}`);
    }
    for (const req of [
      { to: c.store, data: call("Store", "set", [8n, 8n]) },
      { to: c.probe, data: call("Probe", "burn", [20n]) },
    ]) {
      const res = await anvil.rpc("eth_estimateGas", [req]);
      assert.equal(await estimateGas(src, req, n, { env }), res.result);
    }
  });

  test("concurrent requests do not disturb each other", async () => {
    const n = h.latest as number;
    const reqs: CallRequest[] = [
      { to: c.store, data: call("Store", "set", [1n, 2n]) },
      { to: c.reverter, data: call("Reverter", "fail", ["x"]) },
      { to: c.probe, data: call("Probe", "burn", [30n]) },
      { to: c.store, data: call("Store", "values", [1n]) },
      { data: "0xfe" },
      { to: c.caller, data: call("Caller", "nested", [c.store, 3n, 1n]) },
    ];
    const all = [...reqs, ...reqs, ...reqs];
    const answer = (p: Promise<Hex>): Promise<Answer> => p.then((result) => ({ result }), ours);
    const calls = await Promise.all(all.map((req) => answer(ethCall(src, req, n))));
    const estimates = await Promise.all(all.map((req) => answer(estimateGas(src, req, n))));
    for (const [i, req] of all.entries()) {
      for (const [method, mine] of [
        ["eth_call", calls[i]],
        ["eth_estimateGas", estimates[i]],
      ] as const) {
        const res = await anvil.rpc(method, [req, toQuantity(n)]);
        assert.deepEqual(mine, res.error ? { error: res.error } : { result: res.result }, `${method} ${i}`);
      }
    }
  });

  test("unknown state makes the call STATE_UNAVAILABLE", async () => {
    const gappy: EvmStateSource = {
      chainId: src.chainId,
      block: (height) => src.block(height),
      account: (address, height) => (address === c.store ? undefined : src.account(address, height)),
      storage: (address, slot, height) => src.storage(address, slot, height),
      code: (hash) => src.code(hash),
    };
    const req = { to: c.caller, data: call("Caller", "callStore", [c.store, 1n, 1n]) };
    await assert.rejects(ethCall(gappy, req, h.latest as number), (e) => isErrorCode(e, "STATE_UNAVAILABLE"));
    await assert.rejects(estimateGas(gappy, req, h.latest as number), (e) =>
      isErrorCode(e, "STATE_UNAVAILABLE"),
    );
    await assert.rejects(ethCall(src, req, 1_000_000), (e) => isErrorCode(e, "STATE_UNAVAILABLE"));
    // Calls that never touch the unknown account still run.
    assert.equal(
      await ethCall(gappy, { to: c.probe, data: call("Probe", "chainId") }, h.latest as number),
      `0x${word(anvil.chainId)}`,
    );
  });

  test("requests this EVM cannot run are EVM_UNSUPPORTED", async () => {
    const req = {
      to: c.probe,
      data: call("Probe", "chainId"),
      blobVersionedHashes: [`0x01${"00".repeat(31)}` as Hex],
    };
    await assert.rejects(ethCall(src, req, h.latest as number), (e) => isErrorCode(e, "EVM_UNSUPPORTED"));
    // The point-evaluation precompile checks its input as usual, but cannot verify a proof.
    const commitment = `c0${"00".repeat(47)}`;
    const versioned = `01${createHash("sha256").update(Buffer.from(commitment, "hex")).digest("hex").slice(2)}`;
    const kzg = {
      to: "0x000000000000000000000000000000000000000a" as Hex,
      data: `0x${versioned}${"00".repeat(64)}${commitment}${"00".repeat(48)}` as Hex,
    };
    await assert.rejects(ethCall(src, kzg, h.latest as number), (e) => isErrorCode(e, "EVM_UNSUPPORTED"));
  });
});

describe("decodeRevertReason", () => {
  test("names revert data as anvil does", () => {
    const b = (hex: string) => Buffer.from(hex, "hex");
    assert.equal(decodeRevertReason(b("")), undefined);
    assert.equal(decodeRevertReason(b(errorString(enc("nope")))), "nope");
    assert.equal(decodeRevertReason(b(`4e487b71${word(1)}`)), "panic: assertion failed (0x01)");
    assert.equal(decodeRevertReason(b(`4e487b71${word(0x100)}`)), "panic: unknown code (0x100)");
    assert.equal(decodeRevertReason(b(`deadbeef${"ff".repeat(2)}`)), "custom error 0xdeadbeef: ffff");
    assert.equal(decodeRevertReason(b("deadbeef")), "custom error 0xdeadbeef");
    assert.equal(decodeRevertReason(b("ff")), "custom error bytes 0xff");
  });
});
