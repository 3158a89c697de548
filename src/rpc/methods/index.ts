import type { MethodDef } from "../context.ts";
import { chainkeep_backtrack } from "./chainkeep_backtrack.ts";
import { chainkeep_readerStatus } from "./chainkeep_readerStatus.ts";
import { chainkeep_switchPrefix } from "./chainkeep_switchPrefix.ts";
import { eth_blockNumber } from "./eth_blockNumber.ts";
import { eth_call } from "./eth_call.ts";
import { eth_chainId } from "./eth_chainId.ts";
import { eth_estimateGas } from "./eth_estimateGas.ts";
import { eth_feeHistory } from "./eth_feeHistory.ts";
import { eth_gasPrice } from "./eth_gasPrice.ts";
import { eth_getBalance } from "./eth_getBalance.ts";
import { eth_getBlockByHash } from "./eth_getBlockByHash.ts";
import { eth_getBlockByNumber } from "./eth_getBlockByNumber.ts";
import { eth_getBlockReceipts } from "./eth_getBlockReceipts.ts";
import { eth_getBlockTransactionCountByHash } from "./eth_getBlockTransactionCountByHash.ts";
import { eth_getBlockTransactionCountByNumber } from "./eth_getBlockTransactionCountByNumber.ts";
import { eth_getCode } from "./eth_getCode.ts";
import { eth_getLogs } from "./eth_getLogs.ts";
import { eth_getStorageAt } from "./eth_getStorageAt.ts";
import { eth_getTransactionByBlockHashAndIndex } from "./eth_getTransactionByBlockHashAndIndex.ts";
import { eth_getTransactionByBlockNumberAndIndex } from "./eth_getTransactionByBlockNumberAndIndex.ts";
import { eth_getTransactionByHash } from "./eth_getTransactionByHash.ts";
import { eth_getTransactionCount } from "./eth_getTransactionCount.ts";
import { eth_getTransactionReceipt } from "./eth_getTransactionReceipt.ts";
import { eth_getUncleCountByBlockHash } from "./eth_getUncleCountByBlockHash.ts";
import { eth_getUncleCountByBlockNumber } from "./eth_getUncleCountByBlockNumber.ts";
import { eth_maxPriorityFeePerGas } from "./eth_maxPriorityFeePerGas.ts";
import { eth_sendRawTransaction } from "./eth_sendRawTransaction.ts";
import { eth_subscribe } from "./eth_subscribe.ts";
import { eth_syncing } from "./eth_syncing.ts";
import { eth_unsubscribe } from "./eth_unsubscribe.ts";
import { net_listening } from "./net_listening.ts";
import { net_version } from "./net_version.ts";
import { web3_clientVersion } from "./web3_clientVersion.ts";

/** Every method chainkeep serves, one file each (`admin` ones only with `admin`). */
export const METHODS: readonly MethodDef[] = [
  web3_clientVersion,
  net_version,
  net_listening,
  eth_chainId,
  eth_blockNumber,
  eth_syncing,
  eth_getBlockByNumber,
  eth_getBlockByHash,
  eth_getBlockTransactionCountByNumber,
  eth_getBlockTransactionCountByHash,
  eth_getUncleCountByBlockNumber,
  eth_getUncleCountByBlockHash,
  eth_getTransactionByHash,
  eth_getTransactionByBlockNumberAndIndex,
  eth_getTransactionByBlockHashAndIndex,
  eth_getTransactionReceipt,
  eth_getBlockReceipts,
  eth_getLogs,
  eth_getBalance,
  eth_getTransactionCount,
  eth_getCode,
  eth_getStorageAt,
  eth_call,
  eth_estimateGas,
  eth_gasPrice,
  eth_maxPriorityFeePerGas,
  eth_feeHistory,
  eth_sendRawTransaction,
  eth_subscribe,
  eth_unsubscribe,
  chainkeep_backtrack,
  chainkeep_switchPrefix,
  chainkeep_readerStatus,
] as unknown as readonly MethodDef[];
