import { defineMethod, optional, params, required } from "../context.ts";
import { RpcError } from "../errors.ts";
import { subscriptionFilter, subscriptionKind } from "../schemas.ts";

/** eth_subscribe (WebSocket only): `newHeads`, or `logs` with an optional address/topics filter. */
export const eth_subscribe = defineMethod({
  name: "eth_subscribe",
  wsOnly: true,
  params: params(
    required("subscription", subscriptionKind),
    optional("filter", subscriptionFilter.nullish()),
  ),
  handler: ([kind, filter], { conn }) => {
    if (!conn) throw new RpcError("RPC_METHOD_NOT_FOUND", "subscriptions need a WebSocket connection");
    return conn.subscribe(kind, filter ?? undefined);
  },
});
