/**
 * An {@link EvmStateSource} backed by a node's JSON-RPC at historical blocks (eth_getBalance,
 * eth_getTransactionCount, eth_getCode, eth_getStorageAt, eth_getBlockByNumber): a real source for
 * differential tests, with a request counter.
 */
import { keccak256 } from "viem";
import type { EvmStateSource } from "../../../src/evm/index.ts";
import type { AccountState, RpcBlock } from "../../../src/format/types.ts";
import { type Hex, toQuantity } from "../../../src/util/hex.ts";
import type { JsonRpcResponse } from "../../helpers/net.ts";

type Rpc = (method: string, params?: unknown[]) => Promise<JsonRpcResponse>;

export class RpcStateSource implements EvmStateSource {
  private readonly codes = new Map<string, Hex>();
  /** JSON-RPC requests made, for assertions on laziness. */
  requests = 0;

  constructor(
    private readonly rpc: Rpc,
    readonly chainId: number,
  ) {}

  private async call<T>(method: string, params: unknown[]): Promise<T> {
    this.requests++;
    const res = await this.rpc(method, params);
    if (res.error) throw new Error(`${method}: ${res.error.message}`);
    return res.result as T;
  }

  async block(height: number): Promise<RpcBlock | undefined> {
    return (
      (await this.call<RpcBlock | null>("eth_getBlockByNumber", [toQuantity(height), true])) ?? undefined
    );
  }

  async account(address: Hex, height: number): Promise<AccountState | null> {
    const tag = toQuantity(height);
    const [balance, nonce, code] = await Promise.all([
      this.call<Hex>("eth_getBalance", [address, tag]),
      this.call<Hex>("eth_getTransactionCount", [address, tag]),
      this.call<Hex>("eth_getCode", [address, tag]),
    ]);
    // JSON-RPC cannot tell an empty account from a missing one; for execution they are the same.
    if (BigInt(balance) === 0n && BigInt(nonce) === 0n && code === "0x") return null;
    const codeHash = keccak256(code);
    this.codes.set(codeHash, code);
    return { balance, nonce, codeHash };
  }

  async storage(address: Hex, slot: Hex, height: number): Promise<Hex> {
    return this.call<Hex>("eth_getStorageAt", [address, slot, toQuantity(height)]);
  }

  code(codeHash: Hex): Hex | undefined {
    return this.codes.get(codeHash);
  }
}
