import { CommonError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { FsStore } from "./fs-store.ts";
import { type S3Credentials, S3Store, type S3StoreOptions } from "./s3-store.ts";
import type { ObjectStore } from "./types.ts";

/** Which object store a role uses: a directory, or a bucket on an S3 API. */
export type StoreSpec = { type: "fs"; dir: string } | ({ type: "s3" } & S3StoreOptions);

/**
 * Parses the `--store` flag: `s3://bucket[/keyPrefix]` names an S3 bucket (the other S3 settings
 * come from `s3`), anything else is a directory.
 */
export function parseStoreUrl(
  value: string,
  s3: { endpoint?: string; region?: string; forcePathStyle?: boolean; credentials?: S3Credentials } = {},
): StoreSpec {
  if (!value.startsWith("s3://")) return { type: "fs", dir: value };
  const rest = value.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const keyPrefix = slash < 0 ? "" : rest.slice(slash + 1);
  if (!bucket) {
    throw new CommonError("CONFIG_INVALID", `store: ${value} names no bucket (s3://bucket[/prefix])`);
  }
  return {
    type: "s3",
    bucket,
    ...(keyPrefix ? { keyPrefix } : {}),
    ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
    ...(s3.region !== undefined ? { region: s3.region } : {}),
    ...(s3.forcePathStyle !== undefined ? { forcePathStyle: s3.forcePathStyle } : {}),
    ...(s3.credentials !== undefined ? { credentials: s3.credentials } : {}),
  };
}

/** The store as a URL, for logs and status (never the credentials). */
export function describeStore(spec: StoreSpec): string {
  if (spec.type === "fs") return spec.dir;
  const where = spec.endpoint ? ` at ${spec.endpoint}` : "";
  return `s3://${spec.bucket}${spec.keyPrefix ? `/${spec.keyPrefix}` : ""}${where}`;
}

/**
 * Opens the store a spec names. An S3 store without explicit credentials uses the standard AWS
 * credential chain (environment, shared profile, SSO, container or instance metadata).
 */
export function openStore(spec: StoreSpec, deps: { logger: Logger }): ObjectStore {
  if (spec.type === "fs") return new FsStore({ dir: spec.dir });
  const { type: _type, ...opts } = spec;
  return new S3Store(opts, deps);
}
