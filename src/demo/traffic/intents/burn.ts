import { calldata, GAS } from "../contracts.ts";
import type { Intent } from "../types.ts";
import type { RoundContext } from "./context.ts";

/** A loop that burns gas (`Probe.burn`, about 100 gas an iteration). */
export function burnIntents(ctx: RoundContext): Intent[] {
  return [
    {
      sender: ctx.s(11),
      to: ctx.contracts.probe,
      data: calldata("Probe", "burn", [ctx.burnIterations]),
      gas: GAS.burnBase + GAS.burnPerIteration * ctx.burnIterations,
      kinds: ["burn"],
    },
  ];
}
