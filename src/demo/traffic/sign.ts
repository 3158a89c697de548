import { type AccessList, getContractAddress, keccak256, type TransactionSerializable } from "viem";
import { CommonError } from "../../util/errors.ts";
import type { Hex } from "../../util/hex.ts";
import type { Fees, Intent, SentTx, TxKind } from "./types.ts";

/**
 * Assigns the intent's sender its next nonce and signs the transaction for `chainId`: the
 * envelope type the intent asks for (default EIP-1559), an access list on every EIP-2930
 * transaction and on EIP-1559 ones that name slots at odd nonces; does not send.
 */
export async function signIntent(
  intent: Intent,
  fees: Fees,
  chainId: number,
): Promise<{ raw: Hex; tx: SentTx }> {
  const sender = intent.sender;
  if (sender.nonce === undefined) throw new CommonError("INTERNAL", "nonces not initialised");
  const nonce = sender.nonce++;
  intent.onNonce?.(nonce);
  const type = intent.type ?? 2;
  const to = intent.to ?? undefined;
  // EIP-2930 transactions always carry a non-empty access list; EIP-1559 ones that name slots
  // do on odd nonces. The list costs intrinsic gas (2400 per address, 1900 per key).
  const withList = type === 1 || (type === 2 && intent.slots !== undefined && nonce % 2 === 1);
  const accessList: AccessList = [{ address: intent.to ?? sender.address, storageKeys: intent.slots ?? [] }];
  const listGas = withList ? 2400n + 1900n * BigInt(intent.slots?.length ?? 0) : 0n;
  const base = {
    chainId,
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
