import { type Address, concat, encodeAbiParameters, getContractAddress, keccak256, toHex } from "viem";
import { CONTRACTS, calldata, GAS, storeValueSlot } from "../contracts.ts";
import type { Intent } from "../types.ts";
import type { RoundContext } from "./context.ts";

/**
 * Cross-contract calls: nested self-calls ending in Store, a CREATE2 of a Child, and one more of
 * five kinds in turn (a revert caught inside, a delegatecall, an internal value transfer to a new
 * account, a token transfer made by a contract, a call into Store).
 */
export function crossCallIntents(ctx: RoundContext): Intent[] {
  const { s, contracts: c, record } = ctx;
  const r = ctx.round;
  const big = BigInt(r);
  const nestedRef = { address: c.store, slot: storeValueSlot(1_000_000n + big) };
  const nested: Intent = {
    sender: s(8),
    to: c.caller,
    data: calldata("Caller", "nested", [c.store, 3n, 1_000_000n + big]),
    gas: GAS.nested,
    kinds: ["crossCall"],
    onSent: () => record.written(nestedRef),
  };
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
      const bytecode = concat([CONTRACTS.Child.bytecode, encodeAbiParameters([{ type: "uint256" }], [big])]);
      child = getContractAddress({ opcode: "CREATE2", from: c.caller, salt, bytecode });
    },
    onSent: () => {
      if (!child) return;
      record.child(child);
      record.touched(child);
    },
  };
  const misc: Intent = { sender: s(10), to: c.caller, gas: GAS.crossMisc, kinds: ["crossCall"] };
  switch (r % 5) {
    case 0: // a call that reverts inside and is caught
      misc.data = calldata("Caller", "tryCall", [c.reverter, calldata("Reverter", "fail", ["caught"])]);
      break;
    case 1: {
      // Store's code writing Caller's storage
      misc.data = calldata("Caller", "delegateSet", [c.store, big, big + 1n]);
      const ref = { address: c.caller, slot: storeValueSlot(big) };
      misc.onSent = () => record.written(ref);
      break;
    }
    case 2: // value sent on by a contract (an internal transfer) to a new account
      misc.data = calldata("Caller", "forward", [ctx.freshAddress()]);
      misc.value = 12345n;
      break;
    case 3: // a token transfer made by a contract
      misc.data = calldata("Caller", "callToken", [c.token, s(0).address, 10n ** 9n]);
      break;
    default: {
      misc.data = calldata("Caller", "callStore", [c.store, 2_000_000n + big, big + 1n]);
      const ref = { address: c.store, slot: storeValueSlot(2_000_000n + big) };
      misc.onSent = () => record.written(ref);
    }
  }
  return [nested, create2, misc];
}
