import { GAS } from "../contracts.ts";
import type { Intent } from "../types.ts";
import type { RoundContext } from "./context.ts";

/** Value transfers: to a known account, and to a fresh one (a new account in the state). */
export function transferIntents(ctx: RoundContext): Intent[] {
  const { s } = ctx;
  return [
    {
      sender: s(0),
      to: s(1).address,
      value: 10n ** 15n + BigInt(ctx.round),
      gas: GAS.transfer,
      kinds: ["transfer"],
    },
    { sender: s(1), to: ctx.freshAddress(), value: 10n ** 12n, gas: GAS.transfer, kinds: ["transfer"] },
  ];
}
