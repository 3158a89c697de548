export {
  HttpUpstream,
  type RpcCall,
  type RpcErrorObject,
  type Upstream,
  type UpstreamOptions,
} from "./client.ts";
