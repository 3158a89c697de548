import type { AccountFields, StateManagerInterface } from "@ethereumjs/common";
import {
  Account,
  type Address,
  bytesToHex,
  hexToBytes,
  KECCAK256_NULL,
  KECCAK256_NULL_S,
  KECCAK256_RLP,
  unpadBytes,
} from "@ethereumjs/util";
import { keccak256 } from "viem";
import type { AccountState } from "../format/index.ts";
import { type ChainkeepError, CommonError } from "../util/errors.ts";
import type { Hex } from "../util/hex.ts";
import { ReadError } from "../view/index.ts";
import type { EvmStateSource } from "./types.ts";

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Contract code by code hash, shared by every request (code never changes for a hash): saves
 * reading and decoding it per call, and lets the jump analysis cache (`jumps.ts`) find the same
 * bytes again. Least recently used entries go first beyond `CODE_CACHE_BYTES`.
 */
const codeCache = new Map<string, Uint8Array>();
let codeCacheBytes = 0;
/** Most bytes of code kept in `codeCache`. */
const CODE_CACHE_BYTES = 32 * 1024 * 1024;

function cachedCode(hash: string): Uint8Array | undefined {
  const hit = codeCache.get(hash);
  if (hit !== undefined) {
    codeCache.delete(hash);
    codeCache.set(hash, hit);
  }
  return hit;
}

function cacheCode(hash: string, code: Uint8Array): void {
  if (code.length > CODE_CACHE_BYTES / 16 || codeCache.has(hash)) return;
  codeCache.set(hash, code);
  codeCacheBytes += code.length;
  for (const [k, v] of codeCache) {
    if (codeCacheBytes <= CODE_CACHE_BYTES) break;
    codeCache.delete(k);
    codeCacheBytes -= v.length;
  }
}

function unavailable(what: string, meta: Record<string, unknown>): ChainkeepError {
  return new ReadError("STATE_UNAVAILABLE", `state unavailable: ${what}`, { what, ...meta });
}

function toAccount(a: AccountState): Account {
  return new Account(
    BigInt(a.nonce),
    BigInt(a.balance),
    KECCAK256_RLP,
    a.codeHash.toLowerCase() === KECCAK256_NULL_S ? KECCAK256_NULL : hexToBytes(a.codeHash),
  );
}

function copyAccount(a: Account): Account {
  return new Account(a.nonce, a.balance, a.storageRoot, a.codeHash);
}

/**
 * The pre-state of one `eth_call`/`eth_estimateGas` request: accounts, code and storage at the
 * post-state of block `height`, loaded lazily from the source and cached for the whole request
 * (every run of a gas estimation shares it). Never written to: execution writes go to a
 * {@link OverlayStateManager} on top of it.
 */
export class SourceState {
  private readonly accounts = new Map<string, Account | null>();
  private readonly codes = new Map<string, Uint8Array>();
  private readonly slots = new Map<string, Uint8Array>();

  private readonly src: EvmStateSource;
  /** The block whose post-state this is. */
  readonly height: number;

  constructor(opts: { height: number }, deps: { src: EvmStateSource }) {
    this.height = opts.height;
    this.src = deps.src;
  }

  /** The account at the pre-state (a shared object: callers must not mutate it), `null` if absent. */
  async account(address: Address): Promise<Account | null> {
    const key = address.toString();
    const hit = this.accounts.get(key);
    if (hit !== undefined) return hit;
    const state = await this.src.account(key as Hex, this.height);
    if (state === undefined) throw unavailable("account", { address: key, height: this.height });
    const account = state === null ? null : toAccount(state);
    this.accounts.set(key, account);
    return account;
  }

  /** The code of an account at the pre-state (empty for EOAs and absent accounts). */
  async code(address: Address): Promise<Uint8Array> {
    const account = await this.account(address);
    if (account === null || !account.isContract()) return EMPTY;
    const hash = bytesToHex(account.codeHash);
    const hit = this.codes.get(hash) ?? cachedCode(hash);
    if (hit !== undefined) {
      this.codes.set(hash, hit);
      return hit;
    }
    const code = await this.src.code(hash);
    if (code === undefined) throw unavailable("code", { codeHash: hash });
    const bytes = hexToBytes(code);
    this.codes.set(hash, bytes);
    cacheCode(hash, bytes);
    return bytes;
  }

  /** A storage slot (32-byte key) at the pre-state, as the EVM wants it: without leading zeros. */
  async storage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    const slot = bytesToHex(key);
    const id = address.toString() + slot.slice(2);
    const hit = this.slots.get(id);
    if (hit !== undefined) return hit;
    let value = EMPTY;
    if ((await this.account(address)) !== null) {
      const word = await this.src.storage(address.toString() as Hex, slot as Hex, this.height);
      if (word === undefined)
        throw unavailable("storage", { address: address.toString(), slot, height: this.height });
      value = unpadBytes(hexToBytes(word));
    }
    this.slots.set(id, value);
    return value;
  }
}

interface Layer {
  accounts: Map<string, Account | null>;
  codes: Map<string, Uint8Array>;
  /** Keyed by address + slot hex. */
  slots: Map<string, Uint8Array>;
  /** Addresses whose storage was wiped in this layer (reads below must not be consulted). */
  cleared: Set<string>;
}

function newLayer(): Layer {
  return { accounts: new Map(), codes: new Map(), slots: new Map(), cleared: new Set() };
}

/**
 * A journaled, in-memory {@link StateManagerInterface} over a {@link SourceState}: one per EVM run.
 * Writes go to a stack of layers (one per checkpoint); reads fall through the layers to the
 * source. Objects are copied in and out so that the EVM's in-place mutations cannot leak into an
 * older checkpoint or into the shared pre-state.
 */
export class OverlayStateManager implements StateManagerInterface {
  private layers: Layer[] = [newLayer()];
  readonly originalStorageCache: StateManagerInterface["originalStorageCache"];

  private base: SourceState;

  constructor(_opts: Record<string, never>, deps: { base: SourceState }) {
    this.base = deps.base;
    // Every run starts from the pre-state, so the value at transaction start is the pre-state's.
    this.originalStorageCache = { get: (address, key) => this.base.storage(address, key), clear: () => {} };
  }

  /** Drops every write: back to the pre-state (or to another one), for the next run. */
  reset(base: SourceState = this.base): void {
    this.base = base;
    this.layers = [newLayer()];
  }

  private top(): Layer {
    return this.layers[this.layers.length - 1] as Layer;
  }

  async getAccount(address: Address): Promise<Account | undefined> {
    const key = address.toString();
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i] as Layer;
      if (layer.accounts.has(key)) {
        const a = layer.accounts.get(key);
        return a ? copyAccount(a) : undefined;
      }
    }
    const a = await this.base.account(address);
    return a ? copyAccount(a) : undefined;
  }

  async putAccount(address: Address, account?: Account): Promise<void> {
    this.top().accounts.set(address.toString(), account ? copyAccount(account) : null);
  }

  async deleteAccount(address: Address): Promise<void> {
    const key = address.toString();
    const top = this.top();
    top.accounts.set(key, null);
    top.codes.set(key, EMPTY);
    await this.clearStorage(address);
  }

  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    const account = (await this.getAccount(address)) ?? new Account();
    if (fields.nonce !== undefined) account.nonce = fields.nonce;
    if (fields.balance !== undefined) account.balance = fields.balance;
    if (fields.storageRoot !== undefined) account.storageRoot = fields.storageRoot;
    if (fields.codeHash !== undefined) account.codeHash = fields.codeHash;
    await this.putAccount(address, account);
  }

  async putCode(address: Address, value: Uint8Array): Promise<void> {
    const key = address.toString();
    this.top().codes.set(key, value);
    const account = (await this.getAccount(address)) ?? new Account();
    account.codeHash = value.length === 0 ? KECCAK256_NULL : keccak256(value, "bytes");
    await this.putAccount(address, account);
  }

  async getCode(address: Address): Promise<Uint8Array> {
    const key = address.toString();
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const code = (this.layers[i] as Layer).codes.get(key);
      if (code !== undefined) return code;
    }
    return this.base.code(address);
  }

  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length;
  }

  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    const addr = address.toString();
    const id = addr + bytesToHex(key).slice(2);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i] as Layer;
      const v = layer.slots.get(id);
      if (v !== undefined) return v;
      if (layer.cleared.has(addr)) return EMPTY;
    }
    return this.base.storage(address, key);
  }

  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    this.top().slots.set(address.toString() + bytesToHex(key).slice(2), unpadBytes(value));
  }

  async clearStorage(address: Address): Promise<void> {
    const addr = address.toString();
    const top = this.top();
    for (const id of top.slots.keys()) if (id.startsWith(addr)) top.slots.delete(id);
    top.cleared.add(addr);
  }

  async checkpoint(): Promise<void> {
    this.layers.push(newLayer());
  }

  async commit(): Promise<void> {
    const top = this.layers.pop() as Layer;
    const below = this.top();
    for (const addr of top.cleared) {
      for (const id of below.slots.keys()) if (id.startsWith(addr)) below.slots.delete(id);
      below.cleared.add(addr);
    }
    for (const [k, v] of top.accounts) below.accounts.set(k, v);
    for (const [k, v] of top.codes) below.codes.set(k, v);
    for (const [k, v] of top.slots) below.slots.set(k, v);
  }

  async revert(): Promise<void> {
    this.layers.pop();
    if (this.layers.length === 0) this.layers.push(newLayer());
  }

  async getStateRoot(): Promise<Uint8Array> {
    throw new CommonError("INTERNAL", "state root is not available in call execution");
  }

  async setStateRoot(): Promise<void> {
    throw new CommonError("INTERNAL", "state root is not available in call execution");
  }

  async hasStateRoot(): Promise<boolean> {
    return false;
  }

  clearCaches(): void {}

  shallowCopy(): StateManagerInterface {
    const copy = new OverlayStateManager({}, { base: this.base });
    copy.layers = this.layers.map((l) => ({
      accounts: new Map(l.accounts),
      codes: new Map(l.codes),
      slots: new Map(l.slots),
      cleared: new Set(l.cleared),
    }));
    return copy;
  }
}
