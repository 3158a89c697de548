/** Reading state from the view for the state methods; unknown state forwards to the upstream. */
import type { AccountState } from "../format/index.ts";
import type { Hex } from "../util/hex.ts";
import { ReadError } from "../view/index.ts";
import type { MethodEnv } from "./context.ts";

/** The account after block `height`: null when it does not exist; throws STATE_UNAVAILABLE when unknown. */
export function accountAt(env: MethodEnv, address: Hex, height: number): AccountState | null {
  const a = env.view.account(address, height);
  if (a === undefined) {
    throw new ReadError("STATE_UNAVAILABLE", `account ${address} at ${height} is not known`, {
      address,
      height,
    });
  }
  return a;
}

/** A QUANTITY as the upstream encodes it (no leading zeros), from what the view holds. */
export function canonicalQuantity(q: string | number): Hex {
  return `0x${BigInt(q).toString(16)}`;
}
