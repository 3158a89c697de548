import { defineMethod, params, required } from "../context.ts";
import { data } from "../schemas.ts";

/** eth_sendRawTransaction: forwarded to the upstream verbatim; its answer (hash or error) is returned. */
export const eth_sendRawTransaction = defineMethod({
  name: "eth_sendRawTransaction",
  params: params(required("transaction", data)),
  handler: (_p, ctx) => ctx.forward(),
});
