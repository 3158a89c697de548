import { ReadError } from "../../view/index.ts";
import { heightOf, outOfRange, requireTip } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { invalidParams, RpcError } from "../errors.ts";
import { compileFilter, queryLogs } from "../logs.ts";
import { logFilter } from "../schemas.ts";

/**
 * eth_getLogs. The range must lie within the applied chain and be at most `maxLogRange` blocks:
 * a range past the tip, reversed or too long is -32602, never a clamped or partial answer. With
 * addresses, blocks come from the address index; otherwise blocks whose logsBloom cannot match are
 * skipped without reading their logs (`queryLogs`).
 */
export const eth_getLogs = defineMethod({
  name: "eth_getLogs",
  params: params(required("filter", logFilter)),
  handler: ([f], { env }) => {
    const view = env.view;
    const tip = requireTip(view);
    let from: number;
    let to: number;
    if (f.blockHash !== undefined) {
      if (f.fromBlock !== undefined || f.toBlock !== undefined) {
        throw invalidParams(
          "invalid params: cannot specify both blockHash and fromBlock/toBlock, choose one or the other",
        );
      }
      const h = view.heightByHash(f.blockHash);
      if (h === undefined) {
        if (env.hasUpstream && view.earliest() > 0)
          throw new ReadError("STATE_UNAVAILABLE", "block not held");
        throw new RpcError("RPC_SERVER_ERROR", "unknown block", { blockHash: f.blockHash });
      }
      from = h;
      to = h;
    } else {
      from = f.fromBlock ? heightOf(tip, f.fromBlock) : tip.height;
      to = f.toBlock ? heightOf(tip, f.toBlock) : tip.height;
      if (from > tip.height) throw outOfRange(tip.height, from);
      if (to > tip.height) throw outOfRange(tip.height, to);
      if (from > to)
        throw invalidParams(`invalid params: fromBlock ${from} is after toBlock ${to}`, { from, to });
      if (to - from + 1 > env.maxLogRange) {
        throw invalidParams(
          `invalid params: block range of ${to - from + 1} blocks exceeds the limit of ${env.maxLogRange}`,
          {
            from,
            to,
          },
        );
      }
      if (from < view.earliest()) {
        if (env.hasUpstream) throw new ReadError("STATE_UNAVAILABLE", "blocks below the earliest held block");
        throw new RpcError("RPC_SERVER_ERROR", `blocks below ${view.earliest()} are not held by this node`);
      }
    }
    const filter = compileFilter(f.address, f.topics);
    return queryLogs(view, filter, from, to, env.maxLogResults);
  },
});
