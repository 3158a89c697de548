/**
 * RPC while a reader syncs (src/sync): until the staged sync is LIVE, chain-data methods answer
 * -32000 with the stage and its progress; the methods below answer throughout.
 */

import type { ChainkeepError } from "../util/errors.ts";
import type { ChainView, SyncInfo } from "../view/index.ts";
import type { MethodDef } from "./context.ts";
import { RpcError } from "./errors.ts";

/** Methods that do not read chain data: served in every stage. */
export const SERVED_WHILE_SYNCING: ReadonlySet<string> = new Set([
  "web3_clientVersion",
  "web3_sha3",
  "net_version",
  "net_listening",
  "net_peerCount",
  "eth_chainId",
  "eth_syncing",
  "eth_sendRawTransaction",
]);

/** The sync position when it is not LIVE (chain data is not served), else undefined. */
export function notLive(view: ChainView): SyncInfo | undefined {
  const s = view.syncInfo?.();
  return s && s.stage !== "LIVE" ? s : undefined;
}

/** The error chain-data methods answer while syncing: -32000, naming the stage and its progress. */
export function syncingError(s: SyncInfo): ChainkeepError {
  const detail = s.detail ? `, ${s.detail}` : "";
  const why = s.lastError ? `; last error: ${s.lastError}` : "";
  return new RpcError(
    "RPC_NOT_READY",
    `chainkeep is syncing: stage ${s.stage}, block ${s.currentBlock} of ${s.highestBlock}${detail}${why}`,
    { stage: s.stage },
  );
}

/** The method, refusing to run while the view is not LIVE unless it reads no chain data. */
export function gateWhileSyncing(def: MethodDef, view: ChainView): MethodDef {
  if (SERVED_WHILE_SYNCING.has(def.name) || !view.syncInfo) return def;
  return {
    ...def,
    handler(p, ctx) {
      const s = notLive(view);
      if (s) throw syncingError(s);
      return def.handler(p, ctx);
    },
  };
}
