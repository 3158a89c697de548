export {
  HttpUpstream,
  type RpcCall,
  type RpcErrorObject,
  type Upstream,
  type UpstreamOptions,
} from "./client.ts";
export { UpstreamError, type UpstreamErrorCode } from "./errors.ts";
