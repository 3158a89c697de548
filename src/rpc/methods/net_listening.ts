import { defineMethod, params } from "../context.ts";

/** net_listening: always true while the server runs. */
export const net_listening = defineMethod({
  name: "net_listening",
  params: params(),
  handler: () => true,
});
