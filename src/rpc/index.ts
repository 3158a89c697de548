/**
 * The reader's Ethereum JSON-RPC front: HTTP and WebSocket on one port, answers from a
 * `ChainView`, subscriptions fed by `ChainEvents`.
 */
export { type BlockSpec, type BlockTag, resolveBlock, resolveStateHeight } from "./block.ts";
export {
  type CallContext,
  defineMethod,
  type MethodDef,
  optional,
  params,
  type ReaderAdmin,
  required,
  type SubscriptionHost,
  type SyncStatus,
} from "./context.ts";
export { type JsonRpcErrorObject, RpcCode, RpcError, type RpcErrorCode, toJsonRpcError } from "./errors.ts";
export { type BlockEvent, type BlockListener, ChainEventEmitter, type ChainEvents } from "./events.ts";
export { type EvmApi, loadEvm } from "./evm.ts";
export { METHODS } from "./methods/index.ts";
export { type RpcOptions, rpcOptions } from "./options.ts";
export type { Forwarder } from "./protocol.ts";
export { RpcServer, type RpcServerDeps } from "./server.ts";
export {
  type AdminOp,
  ForwardedError,
  type FromWorker,
  type IpcError,
  RpcWorkers,
  type RpcWorkersDeps,
  type RpcWorkersOptions,
  type ToWorker,
  WORKER_CONFIG_ENV,
  type WorkerConfig,
} from "./workers.ts";
