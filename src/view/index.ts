/**
 * The read side's shared vocabulary: what the RPC layer and the EVM read from a reader's local
 * database (`ChainView`), and the values they exchange. `reader/` implements it; `rpc/` and `evm/`
 * import it, never `reader/`.
 */

export { ReadError, type ReadErrorCode } from "./errors.ts";
export {
  type BlockHeader,
  type BlockLogKeys,
  type BlockLogText,
  type ChainInfo,
  type ChainTip,
  type ChainView,
  type HistoryMode,
  RawJson,
  SYNC_STAGES,
  type SyncInfo,
  type SyncStage,
} from "./types.ts";
