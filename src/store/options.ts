import { CommonError } from "../util/errors.ts";
import { type OptionValues, option, type PartialOptions, schemas } from "../util/options.ts";
import { parseStoreUrl, type StoreSpec } from "./open.ts";
import { DEFAULT_S3_REGION, type S3Credentials } from "./s3-store.ts";

/** Where a role's object store is: a directory, or a bucket on an S3 API. */
export const storeOptions = {
  store: option.text({
    description: "object store: a directory, or s3://bucket[/keyPrefix]",
    arg: "<dir|url>",
  }),
  s3Endpoint: option.text({
    description: "endpoint of an S3 API other than AWS (MinIO, Ceph …)",
    arg: "<url>",
    schema: schemas.httpUrl,
  }),
  s3Region: option.text({ description: "S3 region", arg: "<region>", defaultText: DEFAULT_S3_REGION }),
  s3ForcePathStyle: option.bool({
    description: "path-style S3 addressing",
    arg: "<bool>",
    defaultText: "true with --s3-endpoint",
  }),
};

/** The store settings of a role. */
export type StoreOptions = OptionValues<typeof storeOptions>;

/**
 * The store a role's settings name (`store`: a directory or an `s3://` URL, the other S3
 * settings beside it); `credentials` come from the cluster file only (else the AWS chain).
 */
export function storeSpecFrom(
  values: PartialOptions<typeof storeOptions>,
  credentials?: S3Credentials,
): StoreSpec {
  if (values.store === undefined || values.store === "") {
    throw new CommonError(
      "CONFIG_MISSING",
      "no object store: pass --store <dir|s3://bucket[/prefix]>, set CHAINKEEP_STORE, or give store in the config file",
    );
  }
  return parseStoreUrl(values.store, {
    endpoint: values.s3Endpoint,
    region: values.s3Region,
    forcePathStyle: values.s3ForcePathStyle,
    credentials,
  });
}
