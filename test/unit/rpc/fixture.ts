/**
 * A small real chain for the RPC tests: a fresh anvil with a log-emitting contract, legacy and
 * EIP-1559 transactions, a block with three transactions of different tips and an empty block;
 * and `MemoryView`, a ChainView holding anvil's own answers for those blocks.
 */
import { createWalletClient, http, parseEther, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import type { AccountState, RpcBlock, RpcLog, RpcReceipt } from "../../../src/format/types.ts";
import type { Hex } from "../../../src/util/hex.ts";
import { type ChainTip, type ChainView, RawJson } from "../../../src/view/index.ts";
import { type AnvilInstance, startAnvil } from "../../helpers/anvil.ts";
import { rpcBatch, rpcResult } from "../../helpers/net.ts";

/** anvil's first three dev keys. */
const KEYS: Hex[] = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/** Runtime: LOG2(calldata, topic1 = calldata[0:32], topic2 = caller); SSTORE(0, calldatasize). */
const RUNTIME = "365f5f37335f35365fa2365f5500";
const INIT: Hex = `0x600e600a5f39600e5ff3${RUNTIME}`;
const DEAD: Hex = "0x000000000000000000000000000000000000dead";

/** Everything a test needs to know about the fixture chain. */
export interface Fixture {
  anvil: AnvilInstance;
  view: MemoryView;
  /** The log-emitting contract. */
  contract: Hex;
  /** Accounts whose state the view holds (dev accounts 0-2, the contract, 0x…dead). */
  accounts: Hex[];
  /** Height of the block with three transactions of different tips (the head). */
  multiTxBlock: number;
  /** Height of an empty block. */
  emptyBlock: number;
  /** anvil's own subscription notifications for the head block: newHeads, then logs. */
  anvilNotifications: { newHeads: unknown; logs: unknown[] };
  /** Topic 1 of the logs in the multi-transaction block. */
  topic: Hex;
}

interface HeldBlock {
  block: RpcBlock;
  full: string;
  lite: string;
  receipts: string;
  receiptList: RpcReceipt[];
  txs: string[];
  txReceipts: string[];
  logs: RpcLog[];
}

/** A ChainView over anvil's answers, held in memory. */
export class MemoryView implements ChainView {
  readonly chainId: number;
  private readonly blocks: HeldBlock[] = [];
  private readonly byHash = new Map<string, number>();
  private readonly txs = new Map<string, { height: number; index: number }>();
  private readonly accounts = new Map<string, (AccountState | null)[]>();
  private readonly slots = new Map<string, Hex[]>();
  private readonly codes = new Map<string, Hex>();
  /** First held height (blocks and state below it are "not held"). */
  earliestHeight = 0;
  /** Answer state the view does not hold as absent (nonexistent account, zero word), not unknown. */
  assumeComplete = false;
  /** Applied tip height; undefined before the first block. */
  tipHeight: number | undefined;

  constructor(chainId: number) {
    this.chainId = chainId;
  }

  addBlock(b: HeldBlock): void {
    const h = this.blocks.length;
    this.blocks.push(b);
    this.byHash.set(b.block.hash.toLowerCase(), h);
    b.block.transactions.forEach((tx, index) => {
      this.txs.set(tx.hash.toLowerCase(), { height: h, index });
    });
    this.tipHeight = h;
  }

  setAccount(address: Hex, height: number, a: AccountState | null, code: Hex, codeHash: Hex): void {
    const rows = this.accounts.get(address) ?? [];
    this.accounts.set(address, rows);
    rows[height] = a;
    this.codes.set(codeHash, code);
  }

  setStorage(address: Hex, slot: Hex, height: number, v: Hex): void {
    const k = `${address}:${slot}`;
    const rows = this.slots.get(k) ?? [];
    this.slots.set(k, rows);
    rows[height] = v;
  }

  private held(h: number): boolean {
    return this.tipHeight !== undefined && h >= this.earliestHeight && h <= this.tipHeight;
  }

  private at(h: number): HeldBlock | undefined {
    return this.held(h) ? this.blocks[h] : undefined;
  }

  earliest(): number {
    return this.earliestHeight;
  }
  tip(): ChainTip | undefined {
    const h = this.tipHeight;
    if (h === undefined) return undefined;
    const b = this.blocks[h] as HeldBlock;
    // anvil's safe and finalized: head − 32 and head − 64.
    return { height: h, hash: b.block.hash, safe: Math.max(0, h - 32), finalized: Math.max(0, h - 64) };
  }
  hasInitialState(): boolean {
    return false;
  }
  heightByHash(hash: Hex): number | undefined {
    const h = this.byHash.get(hash.toLowerCase());
    return h !== undefined && this.held(h) ? h : undefined;
  }
  block(height: number): RpcBlock | undefined {
    const b = this.at(height);
    return b ? (JSON.parse(b.full) as RpcBlock) : undefined;
  }
  blockJson(height: number, full: boolean): RawJson | undefined {
    const b = this.at(height);
    return b ? new RawJson(full ? b.full : b.lite) : undefined;
  }
  txLocation(hash: Hex): { height: number; index: number } | undefined {
    const loc = this.txs.get(hash.toLowerCase());
    return loc && this.held(loc.height) ? loc : undefined;
  }
  txJson(height: number, index: number): RawJson | undefined {
    const t = this.at(height)?.txs[index];
    return t === undefined ? undefined : new RawJson(t);
  }
  receiptJson(height: number, index: number): RawJson | undefined {
    const t = this.at(height)?.txReceipts[index];
    return t === undefined ? undefined : new RawJson(t);
  }
  blockReceiptsJson(height: number): RawJson | undefined {
    const b = this.at(height);
    return b ? new RawJson(b.receipts) : undefined;
  }
  blockLogs(height: number): RpcLog[] {
    return this.at(height)?.logs ?? [];
  }
  logsBloom(height: number): Hex | undefined {
    return this.at(height)?.block.logsBloom as Hex | undefined;
  }
  account(address: Hex, height: number): AccountState | null | undefined {
    if (!this.held(height)) return undefined;
    const a = this.accounts.get(address.toLowerCase())?.[height];
    return a === undefined && this.assumeComplete ? null : a;
  }
  storage(address: Hex, slot: Hex, height: number): Hex | undefined {
    if (!this.held(height)) return undefined;
    const v = this.slots.get(`${address.toLowerCase()}:${slot}`)?.[height];
    return v === undefined && this.assumeComplete ? `0x${"0".repeat(64)}` : v;
  }
  code(codeHash: Hex): Hex | undefined {
    return this.codes.get(codeHash);
  }

  /** The held block data, for emitting events in tests. */
  heldBlock(height: number): HeldBlock | undefined {
    return this.blocks[height];
  }
}

async function subscribeOnAnvil(wsUrl: string, logFilter: unknown) {
  const { default: WebSocket } = await import("ws");
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const subs = new Map<string, "newHeads" | "logs">();
  const got = { newHeads: undefined as unknown, logs: [] as unknown[] };
  const pending = new Map<number, (id: string) => void>();
  ws.on("message", (d) => {
    const m = JSON.parse(d.toString());
    if (m.id !== undefined) pending.get(m.id)?.(m.result);
    else if (m.method === "eth_subscription") {
      const kind = subs.get(m.params.subscription);
      if (kind === "newHeads") got.newHeads = m.params.result;
      else if (kind === "logs") got.logs.push(m.params.result);
    }
  });
  const sub = (id: number, params: unknown[]) =>
    new Promise<string>((resolve) => {
      pending.set(id, resolve);
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method: "eth_subscribe", params }));
    });
  subs.set(await sub(1, ["newHeads"]), "newHeads");
  subs.set(await sub(2, ["logs", logFilter]), "logs");
  return { got, close: () => ws.close() };
}

/** Starts anvil, builds the chain and snapshots it into a MemoryView. */
export async function buildFixture(): Promise<Fixture> {
  const anvil = await startAnvil();
  try {
    const wallet = (key: Hex) =>
      createWalletClient({ account: privateKeyToAccount(key), chain: foundry, transport: http(anvil.url) });
    type Wallet = ReturnType<typeof wallet>;
    const [w0, w1, w2] = [wallet(KEYS[0] as Hex), wallet(KEYS[1] as Hex), wallet(KEYS[2] as Hex)];
    const send = (w: Wallet, tx: Record<string, unknown>) =>
      w.sendTransaction(tx as Parameters<Wallet["sendTransaction"]>[0]);
    const mined = async (hash: Hex) => {
      for (;;) {
        const r = await rpcResult<{ contractAddress: Hex | null } | null>(
          anvil.url,
          "eth_getTransactionReceipt",
          [hash],
        );
        if (r) return r;
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    const topic: Hex = `0x${"ab".repeat(32)}`;
    // 1: deploy; 2: EIP-1559 call with a log; 3: legacy call from another account.
    const deploy = await mined(await send(w0, { to: null, data: INIT, gas: 100_000n }));
    const contract = deploy.contractAddress as Hex;
    await mined(
      await send(w0, { to: contract, data: topic, gas: 100_000n, maxPriorityFeePerGas: parseGwei("2") }),
    );
    await mined(
      await send(w1, { to: contract, data: `0x${"cd".repeat(33)}`, gas: 100_000n, gasPrice: parseGwei("5") }),
    );
    // 4: an empty block.
    await anvil.rpc("evm_mine");
    // 5: three transactions of different tips in one block, watched by anvil's subscriptions.
    const watch = await subscribeOnAnvil(anvil.wsUrl, { address: contract, topics: [topic] });
    await anvil.rpc("evm_setAutomine", [false]);
    const fee = { maxFeePerGas: parseGwei("20"), gas: 100_000n };
    const a = await send(w0, { to: contract, data: topic, maxPriorityFeePerGas: parseGwei("5"), ...fee });
    const b = await send(w1, {
      to: DEAD,
      value: parseEther("1"),
      maxPriorityFeePerGas: parseGwei("2"),
      ...fee,
    });
    const c = await send(w2, { to: contract, data: `${topic}01`, gasPrice: parseGwei("9"), gas: 100_000n });
    await anvil.rpc("evm_mine");
    await anvil.rpc("evm_setAutomine", [true]);
    await Promise.all([mined(a), mined(b), mined(c)]);
    for (let i = 0; i < 100 && (watch.got.newHeads === undefined || watch.got.logs.length < 2); i++) {
      await new Promise((res) => setTimeout(res, 10));
    }
    watch.close();

    const head = Number(await rpcResult<string>(anvil.url, "eth_blockNumber"));
    const view = new MemoryView(anvil.chainId);
    const accounts: Hex[] = [
      ...KEYS.map((k) => privateKeyToAccount(k).address.toLowerCase() as Hex),
      contract.toLowerCase() as Hex,
      DEAD,
    ];
    for (let h = 0; h <= head; h++) {
      const q = `0x${h.toString(16)}`;
      const [full, lite, receipts] = await rpcBatch(anvil.url, [
        { method: "eth_getBlockByNumber", params: [q, true] },
        { method: "eth_getBlockByNumber", params: [q, false] },
        { method: "eth_getBlockReceipts", params: [q] },
      ]);
      const block = full?.result as RpcBlock;
      const receiptList = receipts?.result as RpcReceipt[];
      const perTx = block.transactions.length
        ? await rpcBatch(
            anvil.url,
            block.transactions.flatMap((t) => [
              { method: "eth_getTransactionByHash", params: [t.hash] },
              { method: "eth_getTransactionReceipt", params: [t.hash] },
            ]),
          )
        : [];
      view.addBlock({
        block,
        full: JSON.stringify(block),
        lite: JSON.stringify(lite?.result),
        receipts: JSON.stringify(receiptList),
        receiptList,
        txs: perTx.filter((_, i) => i % 2 === 0).map((r) => JSON.stringify(r.result)),
        txReceipts: perTx.filter((_, i) => i % 2 === 1).map((r) => JSON.stringify(r.result)),
        logs: receiptList.flatMap((r) => r.logs),
      });
      const reads = await rpcBatch(
        anvil.url,
        accounts.flatMap((addr) => [
          { method: "eth_getProof", params: [addr, [], q] },
          { method: "eth_getCode", params: [addr, q] },
        ]),
      );
      accounts.forEach((addr, i) => {
        const proof = reads[2 * i]?.result as { balance: Hex; nonce: Hex; codeHash: Hex };
        const code = reads[2 * i + 1]?.result as Hex;
        const exists = BigInt(proof.balance) !== 0n || BigInt(proof.nonce) !== 0n || code !== "0x";
        view.setAccount(
          addr,
          h,
          exists ? { balance: proof.balance, nonce: proof.nonce, codeHash: proof.codeHash } : null,
          code,
          proof.codeHash,
        );
      });
      const slot0: Hex = `0x${"0".repeat(64)}`;
      const v = await rpcResult<Hex>(anvil.url, "eth_getStorageAt", [contract, "0x0", q]);
      view.setStorage(contract.toLowerCase() as Hex, slot0, h, v);
    }
    return {
      anvil,
      view,
      contract: contract.toLowerCase() as Hex,
      accounts,
      multiTxBlock: head,
      emptyBlock: head - 1,
      anvilNotifications: watch.got,
      topic,
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}
