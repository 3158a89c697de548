import { defineMethod, params, required } from "../context.ts";
import { RpcError } from "../errors.ts";
import { subscriptionId } from "../schemas.ts";

/** eth_unsubscribe (WebSocket only): true when this connection had the subscription. */
export const eth_unsubscribe = defineMethod({
  name: "eth_unsubscribe",
  wsOnly: true,
  params: params(required("subscriptionId", subscriptionId)),
  handler: ([id], { conn }) => {
    if (!conn) throw new RpcError("RPC_METHOD_NOT_FOUND", "subscriptions need a WebSocket connection");
    return conn.unsubscribe(id);
  },
});
