import {
  type Abi,
  type AccessList,
  type Address,
  type Chain,
  concat,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeAbiParameters,
  encodeDeployData,
  encodeFunctionData,
  getAddress,
  getContractAddress,
  type HttpTransport,
  http,
  keccak256,
  type PublicClient,
  stringToHex,
  type TransactionSerializable,
  toHex,
  type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { backoffMs, sleep } from "../util/clock.ts";
import { CommonError, errorMessage } from "../util/errors.ts";
import type { Hex } from "../util/hex.ts";
import type { Logger } from "../util/logger.ts";
import artifactsJson from "./contracts.json" with { type: "json" };
import { TrafficError } from "./errors.ts";

/** The mnemonic of anvil's (and hardhat's) well-known development accounts. */
export const ANVIL_MNEMONIC = "test test test test test test test test test test test junk";

/** Private keys of accounts 0..9 of {@link ANVIL_MNEMONIC} (m/44'/60'/0'/0/i), funded by anvil. */
export const ANVIL_DEV_KEYS: readonly Hex[] = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/** Names of the demo contracts in `contracts/*.sol`. */
export type ContractName = "Caller" | "Child" | "Probe" | "Reverter" | "SelfDestructor" | "Store" | "Token";

/** A compiled contract: its ABI and creation / runtime bytecode. */
export interface ContractArtifact {
  abi: Abi;
  bytecode: Hex;
  deployedBytecode: Hex;
}

/**
 * The compiled demo contracts (`npm run contracts` regenerates them from `contracts/`). They target
 * the "prague" EVM, which anvil's default hardfork runs.
 */
export const CONTRACTS = artifactsJson as unknown as Record<ContractName, ContractArtifact>;

/** Addresses of the contracts {@link TrafficGenerator.deploy} creates. */
export interface ContractAddresses {
  token: Address;
  store: Address;
  caller: Address;
  reverter: Address;
  probe: Address;
}

/**
 * What a transaction does or is. A transaction is listed under its content kind(s) (`transfer` …
 * `burn`) and under its envelope type (`legacy` = type 0, `eip2930` = type 1, `eip1559` = type 2).
 */
export type TxKind =
  | "transfer"
  | "legacy"
  | "eip2930"
  | "eip1559"
  | "deploy"
  | "erc20"
  | "storageWrite"
  | "storageDelete"
  | "reverted"
  | "selfDestruct"
  | "crossCall"
  | "burn";

/** Every {@link TxKind}. */
export const TX_KINDS: readonly TxKind[] = [
  "transfer",
  "legacy",
  "eip2930",
  "eip1559",
  "deploy",
  "erc20",
  "storageWrite",
  "storageDelete",
  "reverted",
  "selfDestruct",
  "crossCall",
  "burn",
];

/** A storage slot of a contract, as 32-byte DATA. */
export interface StorageSlotRef {
  address: Address;
  slot: Hex;
}

/** A transaction the generator signed and sent. */
export interface SentTx {
  hash: Hex;
  from: Address;
  nonce: number;
  /** Envelope type: 0 legacy, 1 EIP-2930, 2 EIP-1559. */
  type: 0 | 1 | 2;
  to: Address | null;
  kinds: TxKind[];
  /** True when the transaction is meant to be mined with status 0x0. */
  expectRevert: boolean;
  /** The address a contract-creating transaction creates. */
  created?: Address;
}

/** The transactions of one {@link TrafficGenerator.round}. */
export interface RoundResult {
  round: number;
  txs: SentTx[];
}

/** Everything the generator has sent so far (at send time, before inclusion). */
export interface TrafficManifest {
  contracts: ContractAddresses | undefined;
  /** Hashes by kind, in send order; a hash appears under each of its kinds. */
  txs: Record<TxKind, Hex[]>;
  /** Every address the transactions touched: senders, recipients, contracts, children, beneficiaries. */
  accounts: Address[];
  storage: {
    /** Slots written with a non-zero value (some are deleted later; see `deleted`). */
    written: StorageSlotRef[];
    /** Slots set back to zero after having been written in an earlier round. */
    deleted: StorageSlotRef[];
  };
  /** Contracts that self-destructed in their creating transaction (no code, no balance after). */
  selfDestructed: Address[];
  /** Children created by Caller with CREATE2. */
  children: Address[];
}

/** A receipt as the node returns it, untransformed. */
export interface RawReceipt {
  transactionHash: Hex;
  status: Hex;
  type: Hex;
  blockNumber: Hex;
  contractAddress: Hex | null;
  logs: { address: Hex; topics: Hex[]; data: Hex }[];
  [field: string]: unknown;
}

/** Options of the traffic generator. */
export interface TrafficOptions {
  /** HTTP JSON-RPC URL of the node the transactions go to. */
  rpcUrl: string;
  /** Chain id the transactions are signed for (EIP-155); must match the node's. */
  chainId: number;
  /** Sender keys (default {@link ANVIL_DEV_KEYS}, accounts 0..9). Account 0 deploys. */
  privateKeys?: readonly Hex[];
  /**
   * Contracts already deployed by a generator with the same keys (its approvals are reused);
   * when given, {@link TrafficGenerator.deploy} is not needed.
   */
  contracts?: ContractAddresses;
  /** Priority fee (tip) in wei (default 1 gwei). */
  priorityFeeWei?: bigint;
  /** maxFeePerGas and gasPrice are this many times the latest base fee, plus the tip (default 3). */
  baseFeeMultiplier?: number;
  /** Loop iterations of Probe.burn per round, about 100 gas each (default 500). */
  burnIterations?: number;
  /** How long a wait for inclusion may go without progress, in ms (default 60_000). */
  timeoutMs?: number;
  /** Poll interval while waiting for inclusion, in ms (default 25). */
  pollIntervalMs?: number;
  /**
   * After this long without a mined transaction, in ms, {@link TrafficGenerator.settle} mines
   * blocks with `evm_mine` if the node is an anvil in automine mode (default 300).
   */
  stallMs?: number;
}

/** What the traffic generator needs. */
export interface TrafficDeps {
  logger: Logger;
}

/** Options of {@link TrafficGenerator.run}. */
export interface RunOptions {
  /** Pause between rounds, in ms. */
  intervalMs: number;
  /** Stops the loop (after the current round). */
  signal?: AbortSignal;
  /** Stop after this many successful rounds (default: until aborted). */
  maxRounds?: number;
  /**
   * Before each round, wait until no sender has more than this many sent-but-unmined
   * transactions, so a slow node does not build an unbounded backlog (default 16).
   */
  maxLagPerSender?: number;
}

/** Options of {@link TrafficGenerator.sendBatch}. */
export interface BatchOptions {
  /** Wait until every transaction is mined (default false). */
  wait?: boolean;
  /** Transactions per HTTP request (default 5000); n ≤ chunkSize makes one request. */
  chunkSize?: number;
}

interface Sender {
  account: PrivateKeyAccount;
  address: Address;
  /** Next nonce to use; undefined until read from the node. */
  nonce: number | undefined;
  /** The last transaction the node accepted from this sender. */
  last?: { nonce: number; hash: Hex };
}

/** A transaction before signing. */
interface Intent {
  sender: Sender;
  to: Address | null;
  data?: Hex;
  value?: bigint;
  gas: bigint;
  kinds: TxKind[];
  expectRevert?: boolean;
  /** Forces the envelope type; otherwise types rotate. */
  type?: 0 | 1 | 2;
  /** Storage keys to name in an access list for `to`. */
  slots?: Hex[];
  /** Called with the nonce, before signing (may still set `data`). */
  onNonce?: (nonce: number) => void;
  /** Called once the node accepted the transaction. */
  onSent?: (tx: SentTx) => void;
}

interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

// Gas limits for the round's calls, with a margin over what they use (measured on anvil).
const GAS = {
  transfer: 21_000n,
  tokenTransfer: 80_000n,
  tokenApprove: 60_000n,
  storeSet: 100_000n,
  storeFill: 120_000n,
  storeClear: 60_000n,
  storeRaw: 60_000n,
  revert: 80_000n,
  selfDestruct: 100_000n,
  nested: 250_000n,
  deployChild: 200_000n,
  crossMisc: 150_000n,
  burnBase: 60_000n,
  burnPerIteration: 150n,
} as const;

const MAX_UINT256 = 2n ** 256n - 1n;
const TOKEN_SUPPLY_EACH = 10n ** 24n;
const RAW_SLOT_BASE = 0x10000n;

/** The storage slot of `Store.values[key]` (mapping at slot 0): keccak256(abi.encode(key, 0)). */
export function storeValueSlot(key: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [key, 0n]));
}

/** A raw storage slot number as 32-byte DATA. */
function slotHex(n: bigint): Hex {
  return toHex(n, { size: 32 });
}

function calldata(name: ContractName, functionName: string, args: readonly unknown[] = []): Hex {
  return encodeFunctionData({ abi: CONTRACTS[name].abi, functionName, args });
}

function deployData(name: ContractName, args: readonly unknown[] = []): Hex {
  const { abi, bytecode } = CONTRACTS[name];
  return args.length === 0 ? bytecode : encodeDeployData({ abi, bytecode, args });
}

interface JsonRpcReply {
  id: number;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

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
  private rpcId = 0;
  private readonly txs = Object.fromEntries(TX_KINDS.map((k) => [k, [] as Hex[]])) as Record<TxKind, Hex[]>;
  private readonly touched = new Set<Address>();
  private readonly written: StorageSlotRef[] = [];
  private readonly deleted: StorageSlotRef[] = [];
  private readonly selfDestructed: Address[] = [];
  private readonly children: Address[] = [];
  // Slots written in the previous round, with their writer: the next round deletes them from the
  // same sender, so nonce order puts each delete after its write even within one block.
  private toDelete: { sender: Sender; key?: bigint; rawSlot?: bigint }[] = [];

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
    const c = this.contracts as ContractAddresses;
    const r = this.roundIndex++;
    const big = BigInt(r);
    const n = this.senders.length;
    const s = (i: number) => this.sender(r * 3 + i);
    const intents: Intent[] = [];

    // Value transfers: to a known account and to a fresh one (a new account in the state).
    intents.push({
      sender: s(0),
      to: s(1).address,
      value: 10n ** 15n + big,
      gas: GAS.transfer,
      kinds: ["transfer"],
    });
    intents.push({
      sender: s(1),
      to: this.freshAddress(),
      value: 10n ** 12n,
      gas: GAS.transfer,
      kinds: ["transfer"],
    });

    // ERC-20: transfer, approve (renewing the standing approval), transferFrom using it.
    intents.push({
      sender: s(2),
      to: c.token,
      data: calldata("Token", "transfer", [s(4).address, 10n ** 18n + big]),
      gas: GAS.tokenTransfer,
      kinds: ["erc20"],
    });
    const spender = s(4);
    const owner = this.sender(this.senders.indexOf(spender) + n - 1);
    intents.push({
      sender: owner,
      to: c.token,
      data: calldata("Token", "approve", [spender.address, MAX_UINT256]),
      gas: GAS.tokenApprove,
      kinds: ["erc20"],
    });
    intents.push({
      sender: spender,
      to: c.token,
      data: calldata("Token", "transferFrom", [owner.address, this.freshAddress(), 7n * 10n ** 17n]),
      gas: GAS.tokenTransfer,
      kinds: ["erc20"],
    });

    // Storage: one mapping entry and three raw slots written; the previous round's mapping entry
    // and its second raw slot deleted (by their writers).
    const deletes = this.toDelete;
    this.toDelete = [];
    for (const d of deletes) {
      if (d.key !== undefined) {
        const ref = { address: c.store, slot: storeValueSlot(d.key) };
        intents.push({
          sender: d.sender,
          to: c.store,
          data: calldata("Store", "clear", [d.key]),
          gas: GAS.storeClear,
          kinds: ["storageDelete"],
          slots: [ref.slot],
          onSent: () => this.deleted.push(ref),
        });
      }
      if (d.rawSlot !== undefined) {
        const ref = { address: c.store, slot: slotHex(d.rawSlot) };
        intents.push({
          sender: d.sender,
          to: c.store,
          data: calldata("Store", "setRaw", [ref.slot, slotHex(0n)]),
          gas: GAS.storeRaw,
          kinds: ["storageDelete"],
          slots: [ref.slot],
          onSent: () => this.deleted.push(ref),
        });
      }
    }
    const key = big + 1n;
    const setter = s(3);
    const valueRef = { address: c.store, slot: storeValueSlot(key) };
    intents.push({
      sender: setter,
      to: c.store,
      data: calldata("Store", "set", [key, 1000n + big]),
      gas: GAS.storeSet,
      kinds: ["storageWrite"],
      slots: [valueRef.slot, slotHex(1n)],
      onSent: () => {
        this.written.push(valueRef);
        this.toDelete.push({ sender: setter, key });
      },
    });
    const rawStart = RAW_SLOT_BASE + big * 4n;
    const rawRefs = [0n, 1n, 2n].map((j) => ({ address: c.store, slot: slotHex(rawStart + j) }));
    const filler = s(5);
    intents.push({
      sender: filler,
      to: c.store,
      data: calldata("Store", "fill", [rawStart, 3n, keccak256(toHex(big))]),
      gas: GAS.storeFill,
      kinds: ["storageWrite"],
      slots: rawRefs.map((x) => x.slot),
      onSent: () => {
        this.written.push(...rawRefs);
        this.toDelete.push({ sender: filler, rawSlot: rawStart + 1n });
      },
    });

    // A transaction that is mined and fails (explicit gas, so no estimate rejects it).
    const failure = [
      calldata("Reverter", "fail", [`chainkeep round ${r}`]),
      calldata("Reverter", "failCustom", [big]),
      calldata("Reverter", "failPanic"),
    ][r % 3] as Hex;
    intents.push({
      sender: s(6),
      to: c.reverter,
      data: failure,
      gas: GAS.revert,
      kinds: ["reverted"],
      expectRevert: true,
    });

    // A contract that self-destructs in its constructor; the beneficiary is a fresh account on
    // odd rounds (an account created by SELFDESTRUCT).
    const beneficiary = r % 2 === 1 ? this.freshAddress() : s(8).address;
    const destroyer = s(7);
    intents.push({
      sender: destroyer,
      to: null,
      data: deployData("SelfDestructor", [beneficiary]),
      value: 10n ** 14n + big,
      gas: GAS.selfDestruct,
      kinds: ["selfDestruct"],
      onSent: (tx) => {
        const created = tx.created as Address;
        this.selfDestructed.push(created);
        this.touched.add(created);
        this.touched.add(beneficiary);
      },
    });

    // Cross-contract calls: nested self-calls ending in Store, CREATE2 of a Child, and one more.
    const nestedRef = { address: c.store, slot: storeValueSlot(1_000_000n + big) };
    intents.push({
      sender: s(8),
      to: c.caller,
      data: calldata("Caller", "nested", [c.store, 3n, 1_000_000n + big]),
      gas: GAS.nested,
      kinds: ["crossCall"],
      onSent: () => this.written.push(nestedRef),
    });
    const creator = s(9);
    let child: Address | undefined;
    const create2: Intent = {
      sender: creator,
      to: c.caller,
      gas: GAS.deployChild,
      value: 1n + big,
      kinds: ["crossCall"],
      onNonce: (nonce) => {
        // The salt is unique per (sender, nonce), so a CREATE2 never collides.
        const salt = keccak256(concat([creator.address, toHex(nonce, { size: 32 })]));
        create2.data = calldata("Caller", "deployChild", [salt, big]);
        const bytecode = concat([
          CONTRACTS.Child.bytecode,
          encodeAbiParameters([{ type: "uint256" }], [big]),
        ]);
        child = getContractAddress({ opcode: "CREATE2", from: c.caller, salt, bytecode });
      },
      onSent: () => {
        if (!child) return;
        this.children.push(child);
        this.touched.add(child);
      },
    };
    intents.push(create2);
    const misc: Intent = { sender: s(10), to: c.caller, gas: GAS.crossMisc, kinds: ["crossCall"] };
    switch (r % 5) {
      case 0: // a call that reverts inside and is caught
        misc.data = calldata("Caller", "tryCall", [c.reverter, calldata("Reverter", "fail", ["caught"])]);
        break;
      case 1: {
        // Store's code writing Caller's storage
        misc.data = calldata("Caller", "delegateSet", [c.store, big, big + 1n]);
        const ref = { address: c.caller, slot: storeValueSlot(big) };
        misc.onSent = () => this.written.push(ref);
        break;
      }
      case 2: // value sent on by a contract (an internal transfer) to a new account
        misc.data = calldata("Caller", "forward", [this.freshAddress()]);
        misc.value = 12345n;
        break;
      case 3: // a token transfer made by a contract
        misc.data = calldata("Caller", "callToken", [c.token, s(0).address, 10n ** 9n]);
        break;
      default: {
        misc.data = calldata("Caller", "callStore", [c.store, 2_000_000n + big, big + 1n]);
        const ref = { address: c.store, slot: storeValueSlot(2_000_000n + big) };
        misc.onSent = () => this.written.push(ref);
      }
    }
    intents.push(misc);

    // A loop that burns gas.
    const iterations = BigInt(this.opts.burnIterations ?? 500);
    intents.push({
      sender: s(11),
      to: c.probe,
      data: calldata("Probe", "burn", [iterations]),
      gas: GAS.burnBase + GAS.burnPerIteration * iterations,
      kinds: ["burn"],
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
      const replies = await this.rpcBatch(chunk.map((x) => ["eth_sendRawTransaction", [x.raw]]));
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
        await this.rpcBatch([["evm_mine", []]]);
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
    const replies = await this.rpcBatch(hashes.map((h) => ["eth_getTransactionReceipt", [h]]));
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
        const replies = await this.rpcBatch(chunk.map((h) => ["eth_getTransactionReceipt", [h]]));
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
    const [reply] = await this.rpcBatch([["anvil_getAutomine", []]]).catch(() => []);
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
    const sender = intent.sender;
    if (sender.nonce === undefined) throw new CommonError("INTERNAL", "nonces not initialised");
    const nonce = sender.nonce++;
    intent.onNonce?.(nonce);
    const type = intent.type ?? 2;
    const to = intent.to ?? undefined;
    // EIP-2930 transactions always carry a non-empty access list; EIP-1559 ones that name slots
    // do on odd nonces. The list costs intrinsic gas (2400 per address, 1900 per key).
    const withList = type === 1 || (type === 2 && intent.slots !== undefined && nonce % 2 === 1);
    const accessList: AccessList = [
      { address: intent.to ?? sender.address, storageKeys: intent.slots ?? [] },
    ];
    const listGas = withList ? 2400n + 1900n * BigInt(intent.slots?.length ?? 0) : 0n;
    const base = {
      chainId: this.opts.chainId,
      nonce,
      gas: intent.gas + listGas,
      to,
      value: intent.value ?? 0n,
      data: intent.data,
    };
    const gasPrice = fees.maxFeePerGas;
    let tx: TransactionSerializable;
    if (type === 0) tx = { ...base, type: "legacy", gasPrice };
    else if (type === 1) tx = { ...base, type: "eip2930", gasPrice, accessList };
    else {
      tx = {
        ...base,
        type: "eip1559",
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
        ...(withList ? { accessList } : {}),
      };
    }
    const raw = (await sender.account.signTransaction(tx)) as Hex;
    const typeKind: TxKind = type === 0 ? "legacy" : type === 1 ? "eip2930" : "eip1559";
    const created =
      intent.to === null ? getContractAddress({ from: sender.address, nonce: BigInt(nonce) }) : undefined;
    if (intent.to) this.touched.add(intent.to);
    return {
      raw,
      tx: {
        hash: keccak256(raw),
        from: sender.address,
        nonce,
        type,
        to: intent.to,
        kinds: [...intent.kinds, typeKind],
        expectRevert: intent.expectRevert ?? false,
        ...(created ? { created } : {}),
      },
    };
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
    const replies = await this.rpcBatch(
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

  /** One batched JSON-RPC request; replies in request order. */
  private async rpcBatch(calls: [string, unknown[]][]): Promise<JsonRpcReply[]> {
    if (calls.length === 0) return [];
    const first = this.rpcId;
    this.rpcId += calls.length;
    const body = JSON.stringify(
      calls.map(([method, params], i) => ({ jsonrpc: "2.0", id: first + i, method, params })),
    );
    let replies: unknown;
    try {
      const res = await fetch(this.opts.rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      if (!res.ok) throw new TrafficError("TRAFFIC_RPC", `HTTP ${res.status}`, { status: res.status });
      replies = await res.json();
    } catch (err) {
      throw new TrafficError(
        "TRAFFIC_RPC",
        `batched JSON-RPC request failed: ${errorMessage(err)}`,
        {},
        { cause: err },
      );
    }
    if (!Array.isArray(replies)) {
      throw new TrafficError("TRAFFIC_RPC", "batched JSON-RPC reply is not an array", { reply: replies });
    }
    const byId = new Map<number, JsonRpcReply>();
    for (const r of replies as JsonRpcReply[]) byId.set(r.id, r);
    return calls.map(
      (_, i) =>
        byId.get(first + i) ?? { id: first + i, error: { code: -32603, message: "no reply in the batch" } },
    );
  }
}
