/** The transactions of one traffic round, one group of intents per file, in sending order. */
import type { Intent } from "../types.ts";
import { burnIntents } from "./burn.ts";
import type { RoundContext } from "./context.ts";
import { crossCallIntents } from "./cross-calls.ts";
import { erc20Intents } from "./erc20.ts";
import { failureIntents } from "./failures.ts";
import { storageIntents } from "./storage.ts";
import { transferIntents } from "./transfers.ts";

export type { Deletion, RoundContext } from "./context.ts";

/** A round's intents, in the order they are sent (envelope types rotate by position). */
export function roundIntents(ctx: RoundContext): Intent[] {
  return [
    ...transferIntents(ctx),
    ...erc20Intents(ctx),
    ...storageIntents(ctx),
    ...failureIntents(ctx),
    ...crossCallIntents(ctx),
    ...burnIntents(ctx),
  ];
}
