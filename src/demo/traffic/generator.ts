import {
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  getContractAddress,
  type HttpTransport,
  http,
  keccak256,
  type PublicClient,
  stringToHex,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { backoffMs, sleep } from "../../util/clock.ts";
import { CommonError, errorMessage } from "../../util/errors.ts";
import type { Hex } from "../../util/hex.ts";
import type { Logger } from "../../util/logger.ts";
import { TrafficError } from "../errors.ts";
import {
  ANVIL_DEV_KEYS,
  type ContractAddresses,
  type ContractName,
  calldata,
  deployData,
  GAS,
  MAX_UINT256,
  TOKEN_SUPPLY_EACH,
} from "./contracts.ts";
import { type Deletion, roundIntents } from "./intents/round.ts";
import { BatchRpc } from "./rpc.ts";
import { signIntent } from "./sign.ts";
import {
  type BatchOptions,
  type Fees,
  type Intent,
  type RawReceipt,
  type RoundResult,
  type RunOptions,
  type Sender,
  type SentTx,
  type StorageSlotRef,
  type TrafficDeps,
  type TrafficManifest,
  type TrafficOptions,
  TX_KINDS,
  type TxKind,
} from "./types.ts";

/**
 * Drives a node with varied, locally signed transactions: value transfers, all three pre-blob
 * envelope types, ERC-20 traffic, storage writes and deletes, reverts, a self-destruct in a
 * constructor, nested cross-contract calls and CREATE2. Nonces are tracked locally, so rounds do
 * not wait for inclusion; it works with anvil's automine (one transaction per block) and with
 * `--block-time N` (many per block). Transactions from one sender that depend on each other are
 * ordered by nonce; transactions that depend on another sender's effects rely only on what
 * {@link deploy} set up (and waited for).
 */
export class TrafficGenerator {
  private readonly opts: TrafficOptions;
  private readonly log: Logger;
  private readonly chain: Chain;
  private readonly publicClient: PublicClient<HttpTransport, Chain>;
  private readonly walletClient: WalletClient<HttpTransport, Chain>;
  private readonly senders: Sender[];
  private contracts: ContractAddresses | undefined;
  private initialized = false;
  private roundIndex = 0;
  private freshIndex = 0;
  private readonly rpc: BatchRpc;
  private readonly txs = Object.fromEntries(TX_KINDS.map((k) => [k, [] as Hex[]])) as Record<TxKind, Hex[]>;
  private readonly touched = new Set<Address>();
  private readonly written: StorageSlotRef[] = [];
  private readonly deleted: StorageSlotRef[] = [];
  private readonly selfDestructed: Address[] = [];
  private readonly children: Address[] = [];
  // Slots written in the previous round, with their writer: the next round deletes them from the
  // same sender, so nonce order puts each delete after its write even within one block.
  private toDelete: Deletion[] = [];

  constructor(opts: TrafficOptions, deps: TrafficDeps) {
    const keys = opts.privateKeys ?? ANVIL_DEV_KEYS;
    if (keys.length === 0)
      throw new CommonError("CONFIG_INVALID", "traffic generator needs at least one key");
    this.opts = opts;
    this.log = deps.logger.child({ module: "traffic" });
    this.chain = defineChain({
      id: opts.chainId,
      name: `chain-${opts.chainId}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [opts.rpcUrl] } },
    });
    const transport = http(opts.rpcUrl, { retryCount: 0, timeout: 60_000 });
    this.publicClient = createPublicClient({ chain: this.chain, transport });
    this.rpc = new BatchRpc(opts.rpcUrl);
    this.walletClient = createWalletClient({ chain: this.chain, transport });
    this.senders = keys.map((k) => {
      const account = privateKeyToAccount(k);
      return { account, address: account.address, nonce: undefined };
    });
    this.contracts = opts.contracts;
  }

  /** The sender addresses, account 0 first. */
  get accounts(): Address[] {
    return this.senders.map((s) => s.address);
  }

  /** Addresses of the demo contracts, once deployed (or given in the options). */
  get addresses(): ContractAddresses | undefined {
    return this.contracts;
  }

  /** A snapshot of everything sent so far. */
  manifest(): TrafficManifest {
    return {
      contracts: this.contracts ? { ...this.contracts } : undefined,
      txs: Object.fromEntries(TX_KINDS.map((k) => [k, [...this.txs[k]]])) as Record<TxKind, Hex[]>,
      accounts: [...this.touched],
      storage: { written: [...this.written], deleted: [...this.deleted] },
      selfDestructed: [...this.selfDestructed],
      children: [...this.children],
    };
  }

  /**
   * Deploys Store, Reverter, Probe, Caller and Token (from account 0; every sender and Caller
   * get tokens), then has every sender approve the next one without limit, and waits for all of
   * it to be mined. Returns the addresses.
   */
  async deploy(): Promise<ContractAddresses> {
    await this.init();
    const deployer = this.sender(0);
    const fees = await this.fees();
    const first = deployer.nonce ?? 0;
    const predicted = (i: number) => getContractAddress({ from: deployer.address, nonce: BigInt(first + i) });
    const addresses: ContractAddresses = {
      store: predicted(0),
      reverter: predicted(1),
      probe: predicted(2),
      caller: predicted(3),
      token: predicted(4),
    };
    const holders = [...this.accounts, addresses.caller];
    // In nonce order, matching the predictions above.
    const creations: [ContractName, Hex, Address][] = [
      ["Store", deployData("Store"), addresses.store],
      ["Reverter", deployData("Reverter"), addresses.reverter],
      ["Probe", deployData("Probe"), addresses.probe],
      ["Caller", deployData("Caller"), addresses.caller],
      ["Token", deployData("Token", ["Demo Token", "DEMO", holders, TOKEN_SUPPLY_EACH]), addresses.token],
    ];
    const sent: SentTx[] = [];
    for (const [i, [name, data]] of creations.entries()) {
      const estimate = await this.publicClient
        .estimateGas({ account: deployer.address, data })
        .catch((err: unknown) => {
          throw new TrafficError(
            "TRAFFIC_RPC",
            `estimating the ${name} deployment failed`,
            {},
            { cause: err },
          );
        });
      sent.push(
        await this.send(
          {
            sender: deployer,
            to: null,
            data,
            gas: (estimate * 5n) / 4n,
            kinds: ["deploy"],
            type: (i % 3) as 0 | 1 | 2,
          },
          fees,
        ),
      );
    }
    await this.expectSuccess(sent, "deployment");
    for (const [i, tx] of sent.entries()) {
      const expected = creations[i]?.[2];
      if (tx.created !== expected) {
        throw new CommonError("INTERNAL", "deployment address differs from the prediction", {
          expected,
          created: tx.created,
        });
      }
    }
    this.contracts = addresses;
    for (const a of Object.values(addresses)) this.touched.add(a);

    // Standing approvals (owner i → spender i+1) that transferFrom in later rounds relies on.
    const approvals: SentTx[] = [];
    for (const [i, owner] of this.senders.entries()) {
      const spender = this.sender(i + 1).address;
      approvals.push(
        await this.send(
          {
            sender: owner,
            to: addresses.token,
            data: calldata("Token", "approve", [spender, MAX_UINT256]),
            gas: GAS.tokenApprove,
            kinds: ["erc20"],
            type: 2,
          },
          fees,
        ),
      );
    }
    await this.expectSuccess(approvals, "approval");
    this.log.info({ contracts: addresses }, "demo contracts deployed");
    return addresses;
  }

  /**
   * Sends one varied round (about 15 transactions) without waiting for inclusion: transfers to
   * known and fresh accounts, ERC-20 transfer/approve/transferFrom, storage writes (and deletes
   * of the previous round's writes), a revert (reason string, custom error or panic, rotating),
   * a self-destructing deployment, nested calls, CREATE2 and a gas-burning loop. Envelope types
   * rotate so every round has types 0, 1 and 2. Deploys first when needed.
   */
  async round(): Promise<RoundResult> {
    // Contracts given in the options skip deploy(), which is where nonces are otherwise read.
    await this.init();
    if (!this.contracts) await this.deploy();
    const r = this.roundIndex++;
    const deletes = this.toDelete;
    this.toDelete = [];
    const intents = roundIntents({
      round: r,
      contracts: this.contracts as ContractAddresses,
      s: (i) => this.sender(r * 3 + i),
      sender: (i) => this.sender(i),
      indexOf: (sender) => this.senders.indexOf(sender),
      senders: this.senders.length,
      freshAddress: () => this.freshAddress(),
      burnIterations: BigInt(this.opts.burnIterations ?? 500),
      deletes,
      record: {
        written: (ref) => this.written.push(ref),
        deleted: (ref) => this.deleted.push(ref),
        toDelete: (d) => this.toDelete.push(d),
        selfDestructed: (a) => this.selfDestructed.push(a),
        child: (a) => this.children.push(a),
        touched: (a) => this.touched.add(a),
      },
    });
    const fees = await this.fees();
    const txs: SentTx[] = [];
    for (const [i, intent] of intents.entries()) {
      // Rotating types over consecutive transactions puts every type in every round.
      intent.type ??= ((i + r) % 3) as 0 | 1 | 2;
      txs.push(await this.send(intent, fees));
    }
    this.log.debug({ round: r, txs: txs.length }, "round sent");
    return { round: r, txs };
  }

  /**
   * Sends rounds until `signal` aborts or `maxRounds` rounds succeeded, pausing `intervalMs`
   * between them. A failed round is logged, the nonces are re-read and the loop backs off.
   * Returns the number of successful rounds.
   */
  async run(opts: RunOptions): Promise<{ rounds: number }> {
    const { signal, maxRounds } = opts;
    let rounds = 0;
    let failures = 0;
    while (!signal?.aborted && (maxRounds === undefined || rounds < maxRounds)) {
      try {
        await this.settle({ maxLag: opts.maxLagPerSender ?? 16, signal });
        if (signal?.aborted) break;
        await this.round();
        rounds += 1;
        failures = 0;
      } catch (err) {
        failures += 1;
        this.log.warn({ err: errorMessage(err), failures }, "traffic round failed");
        await this.resyncNonces().catch(() => {});
        await sleep(backoffMs(failures), signal);
        continue;
      }
      if (maxRounds !== undefined && rounds >= maxRounds) break;
      await sleep(opts.intervalMs, signal);
    }
    return { rounds };
  }

  /**
   * Pre-signs `n` simple transactions (ETH transfers to known and fresh accounts, and ERC-20
   * transfers once deployed), spread over the senders, and sends them as batched JSON-RPC
   * `eth_sendRawTransaction` requests (one HTTP request per `chunkSize`). Returns the hashes.
   */
  async sendBatch(n: number, opts: BatchOptions = {}): Promise<Hex[]> {
    await this.init();
    const c = this.contracts;
    const base = await this.baseFee();
    // A big batch fills blocks and raises the base fee by up to 12.5% a block; cover the rise.
    const blockGasLimit = 30_000_000;
    const blocks = Math.ceil((n * Number(GAS.tokenTransfer)) / blockGasLimit);
    const multiplier = BigInt(Math.ceil(Math.min(1000, Math.max(this.multiplier(), 2 * 1.125 ** blocks))));
    const tip = this.opts.priorityFeeWei ?? 1_000_000_000n;
    const fees: Fees = { maxFeePerGas: base * multiplier + tip, maxPriorityFeePerGas: tip };

    const signed: { raw: Hex; tx: SentTx; sender: Sender }[] = [];
    for (let i = 0; i < n; i++) {
      const sender = this.sender(i);
      const token = c !== undefined && i % 2 === 1;
      const intent: Intent = token
        ? {
            sender,
            to: c.token,
            data: calldata("Token", "transfer", [this.sender(i + 3).address, 1n + BigInt(i)]),
            gas: GAS.tokenTransfer,
            kinds: ["erc20"],
            type: 2,
          }
        : {
            sender,
            to: i % 4 === 0 ? this.freshAddress() : this.sender(i + 1).address,
            value: 1_000_000_000n + BigInt(i),
            gas: GAS.transfer,
            kinds: ["transfer"],
            type: 2,
          };
      signed.push({ ...(await this.sign(intent, fees)), sender });
    }

    const chunkSize = Math.max(1, opts.chunkSize ?? 5000);
    const failures: string[] = [];
    for (let at = 0; at < signed.length; at += chunkSize) {
      const chunk = signed.slice(at, at + chunkSize);
      const replies = await this.rpc.call(chunk.map((x) => ["eth_sendRawTransaction", [x.raw]]));
      for (const [i, reply] of replies.entries()) {
        if (reply.error) failures.push(reply.error.message);
        else {
          const x = chunk[i] as (typeof chunk)[number];
          this.record(x.sender, x.tx);
        }
      }
    }
    if (failures.length > 0) {
      await this.resyncNonces();
      throw new TrafficError("TRAFFIC_RPC", `${failures.length} of ${n} batched transactions were rejected`, {
        failed: failures.length,
        first: failures.slice(0, 3),
      });
    }
    if (opts.wait) await this.settle();
    return signed.map((x) => x.tx.hash);
  }

  /**
   * Waits until every sender's mined nonce is within `maxLag` of the next nonce to use (default
   * 0: everything sent is mined, and its receipt can be read). Throws TRAFFIC_TIMEOUT when
   * nothing progresses for `timeoutMs`.
   *
   * A node may show a block's new nonces before it serves the block's receipts (anvil commits the
   * executed state, then stores the block and its receipts), so with `maxLag` 0 this also waits
   * for the receipt of each sender's last transaction: receipts of earlier nonces are in the same
   * block or earlier ones.
   *
   * Anvil's automine mines only when a transaction arrives, at most a block's gas worth at a
   * time, so after a batch larger than a block the rest would wait in the pool for the next
   * arrival; when progress stalls for `stallMs` on a node that reports automine
   * (`anvil_getAutomine`), this mines blocks with `evm_mine` until the pool drains.
   */
  async settle(opts: { maxLag?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (!this.initialized) return;
    const maxLag = opts.maxLag ?? 0;
    const timeoutMs = this.opts.timeoutMs ?? 60_000;
    const stallMs = this.opts.stallMs ?? 300;
    let lastTotal = -1;
    let lastProgress = Date.now();
    let nudging = false;
    for (;;) {
      if (opts.signal?.aborted) return;
      const mined = await this.nonces("latest");
      const behind = this.senders.filter((s, i) => (s.nonce ?? 0) - (mined[i] ?? 0) > maxLag);
      const total = mined.reduce((a, b) => a + b, 0);
      const progressed = total !== lastTotal;
      if (progressed) {
        lastTotal = total;
        lastProgress = Date.now();
      }
      let unseen: Hex[] = [];
      if (behind.length === 0) {
        if (maxLag > 0) return;
        unseen = await this.missingLastReceipts();
        if (unseen.length === 0) return;
      }
      const stalled = Date.now() - lastProgress;
      if (stalled > timeoutMs) {
        throw new TrafficError("TRAFFIC_TIMEOUT", "sent transactions were not mined in time", {
          behind: behind.map((s) => s.address),
          receiptsMissing: unseen,
          stalledMs: stalled,
        });
      }
      // Keep mining while each block helps; start again after a stall. Not while only receipts
      // are awaited: the transactions are mined, their block is being stored.
      if (behind.length > 0 && ((nudging && progressed) || (stalled > stallMs && (await this.automine())))) {
        nudging = true;
        await this.rpc.call([["evm_mine", []]]);
        continue;
      }
      nudging = false;
      await sleep(this.opts.pollIntervalMs ?? 25, opts.signal);
    }
  }

  /**
   * Hashes of the senders' last transactions whose receipts the node does not serve yet; only
   * for senders whose last accepted transaction holds their newest nonce (after a resync that
   * dropped it, the nonce check alone decides).
   */
  private async missingLastReceipts(): Promise<Hex[]> {
    const hashes: Hex[] = [];
    for (const s of this.senders) {
      if (s.last && s.nonce !== undefined && s.last.nonce === s.nonce - 1) hashes.push(s.last.hash);
    }
    const replies = await this.rpc.call(hashes.map((h) => ["eth_getTransactionReceipt", [h]]));
    return hashes.filter((_, i) => !replies[i]?.result);
  }

  /**
   * Waits for the receipts of `hashes` and returns them (as the node sent them), in order.
   * Throws TRAFFIC_TIMEOUT when no new receipt appears for `timeoutMs`.
   */
  async waitForReceipts(hashes: readonly Hex[]): Promise<RawReceipt[]> {
    const found = new Map<Hex, RawReceipt>();
    const timeoutMs = this.opts.timeoutMs ?? 60_000;
    let lastProgress = Date.now();
    for (;;) {
      const missing = hashes.filter((h) => !found.has(h));
      if (missing.length === 0) return hashes.map((h) => found.get(h) as RawReceipt);
      const before = found.size;
      for (let at = 0; at < missing.length; at += 1000) {
        const chunk = missing.slice(at, at + 1000);
        const replies = await this.rpc.call(chunk.map((h) => ["eth_getTransactionReceipt", [h]]));
        for (const [i, reply] of replies.entries()) {
          if (reply.result) found.set(chunk[i] as Hex, reply.result as RawReceipt);
        }
      }
      if (hashes.every((h) => found.has(h))) continue;
      if (found.size > before) lastProgress = Date.now();
      else if (Date.now() - lastProgress > timeoutMs) {
        throw new TrafficError("TRAFFIC_TIMEOUT", "receipts did not appear in time", {
          missing: hashes.length - found.size,
        });
      }
      await sleep(this.opts.pollIntervalMs ?? 25);
    }
  }

  /** Re-reads every sender's next nonce (pending) from the node. */
  async resyncNonces(): Promise<void> {
    const pending = await this.nonces("pending");
    for (const [i, s] of this.senders.entries()) s.nonce = pending[i];
  }

  private async init(): Promise<void> {
    if (this.initialized) return;
    const chainId = await this.publicClient.getChainId().catch((err: unknown) => {
      throw new TrafficError("TRAFFIC_RPC", `cannot reach ${this.opts.rpcUrl}`, {}, { cause: err });
    });
    if (chainId !== this.opts.chainId) {
      throw new CommonError("CONFIG_INVALID", "the node's chain id differs from the configured one", {
        configured: this.opts.chainId,
        node: chainId,
      });
    }
    await this.resyncNonces();
    for (const s of this.senders) this.touched.add(s.address);
    for (const a of Object.values(this.contracts ?? {})) this.touched.add(a);
    this.initialized = true;
  }

  /** Whether the node is an anvil in automine mode (false for any other node). */
  private async automine(): Promise<boolean> {
    const [reply] = await this.rpc.call([["anvil_getAutomine", []]]).catch(() => []);
    return reply?.result === true;
  }

  private sender(i: number): Sender {
    return this.senders[i % this.senders.length] as Sender;
  }

  private freshAddress(): Address {
    const h = keccak256(stringToHex(`chainkeep fresh account ${this.freshIndex++}`));
    const a = getAddress(`0x${h.slice(26)}`);
    this.touched.add(a);
    return a;
  }

  private multiplier(): number {
    return this.opts.baseFeeMultiplier ?? 3;
  }

  private async baseFee(): Promise<bigint> {
    const block = await this.publicClient.getBlock({ blockTag: "latest" }).catch((err: unknown) => {
      throw new TrafficError("TRAFFIC_RPC", "reading the latest block failed", {}, { cause: err });
    });
    return block.baseFeePerGas ?? 0n;
  }

  private async fees(): Promise<Fees> {
    const tip = this.opts.priorityFeeWei ?? 1_000_000_000n;
    const base = await this.baseFee();
    return { maxFeePerGas: base * BigInt(Math.ceil(this.multiplier())) + tip, maxPriorityFeePerGas: tip };
  }

  /** Assigns the sender's next nonce, signs, and records the kinds; does not send. */
  private async sign(intent: Intent, fees: Fees): Promise<{ raw: Hex; tx: SentTx }> {
    const signed = await signIntent(intent, fees, this.opts.chainId);
    if (intent.to) this.touched.add(intent.to);
    return signed;
  }

  private record(sender: Sender, tx: SentTx): void {
    for (const k of tx.kinds) this.txs[k].push(tx.hash);
    if (!sender.last || tx.nonce > sender.last.nonce) sender.last = { nonce: tx.nonce, hash: tx.hash };
  }

  private async send(intent: Intent, fees: Fees): Promise<SentTx> {
    const { raw, tx } = await this.sign(intent, fees);
    try {
      await this.walletClient.sendRawTransaction({ serializedTransaction: raw });
    } catch (err) {
      // The nonce was not used; re-read it so the next transaction does not leave a gap.
      await this.resyncNonces().catch(() => {});
      throw new TrafficError(
        "TRAFFIC_RPC",
        `eth_sendRawTransaction failed: ${errorMessage(err)}`,
        { from: tx.from, nonce: tx.nonce, kinds: tx.kinds },
        { cause: err },
      );
    }
    this.record(intent.sender, tx);
    intent.onSent?.(tx);
    return tx;
  }

  private async expectSuccess(txs: SentTx[], what: string): Promise<void> {
    const receipts = await this.waitForReceipts(txs.map((t) => t.hash));
    for (const r of receipts) {
      if (r.status !== "0x1") {
        throw new TrafficError("TRAFFIC_TX_FAILED", `${what} transaction failed`, {
          hash: r.transactionHash,
        });
      }
    }
  }

  private async nonces(tag: "latest" | "pending"): Promise<number[]> {
    const replies = await this.rpc.call(
      this.senders.map((s) => ["eth_getTransactionCount", [s.address, tag]]),
    );
    return replies.map((reply, i) => {
      if (typeof reply.result !== "string") {
        throw new TrafficError("TRAFFIC_RPC", "eth_getTransactionCount failed", {
          address: this.senders[i]?.address,
          error: reply.error,
        });
      }
      return Number(reply.result);
    });
  }
}
