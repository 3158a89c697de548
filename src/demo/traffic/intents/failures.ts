import type { Address } from "viem";
import type { Hex } from "../../../util/hex.ts";
import { calldata, deployData, GAS } from "../contracts.ts";
import type { Intent } from "../types.ts";
import type { RoundContext } from "./context.ts";

/**
 * A transaction that is mined and fails (a reason string, a custom error or a panic, rotating;
 * explicit gas, so no estimate rejects it), and a contract that self-destructs in its constructor
 * (its beneficiary a fresh account on odd rounds: an account created by SELFDESTRUCT).
 */
export function failureIntents(ctx: RoundContext): Intent[] {
  const { s, contracts: c, record } = ctx;
  const r = ctx.round;
  const big = BigInt(r);
  const failure = [
    calldata("Reverter", "fail", [`chainkeep round ${r}`]),
    calldata("Reverter", "failCustom", [big]),
    calldata("Reverter", "failPanic"),
  ][r % 3] as Hex;
  const beneficiary = r % 2 === 1 ? ctx.freshAddress() : s(8).address;
  return [
    { sender: s(6), to: c.reverter, data: failure, gas: GAS.revert, kinds: ["reverted"], expectRevert: true },
    {
      sender: s(7),
      to: null,
      data: deployData("SelfDestructor", [beneficiary]),
      value: 10n ** 14n + big,
      gas: GAS.selfDestruct,
      kinds: ["selfDestruct"],
      onSent: (tx) => {
        const created = tx.created as Address;
        record.selfDestructed(created);
        record.touched(created);
        record.touched(beneficiary);
      },
    },
  ];
}
