import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { ChainkeepError, CommonError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { StoreError } from "./errors.ts";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, retry } from "./retry.ts";
import type { ListOptions, ObjectStore } from "./types.ts";

/** Explicit S3 credentials (otherwise the standard AWS chain: env, profile, SSO, IMDS …). */

/** The region when none is given (S3 APIs other than AWS mostly ignore it). */
export const DEFAULT_S3_REGION = "us-east-1";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of the S3 store. */
export interface S3StoreOptions {
  /** Bucket holding the objects; it must exist. */
  bucket: string;
  /** Endpoint URL of an S3 API other than AWS (MinIO, Ceph RGW, s3rver …); unset for AWS. */
  endpoint?: string;
  /** Region (default `us-east-1`; S3 APIs other than AWS mostly ignore it). */
  region?: string;
  /** Prepended to every key, with a `/` added when missing (default: none). */
  keyPrefix?: string;
  /** Path-style addressing (`{endpoint}/{bucket}/{key}`); default true when `endpoint` is set. */
  forcePathStyle?: boolean;
  /** Explicit credentials; default: the standard AWS credential chain. */
  credentials?: S3Credentials;
  /** Objects larger than this go up as a multipart upload, in bytes (default 8 MiB). */
  multipartThresholdBytes?: number;
  /** Size of each multipart part, in bytes (default 8 MiB; S3 needs at least 5 MiB). */
  partSizeBytes?: number;
  /** Parts of one object uploaded at a time (default 4). */
  partConcurrency?: number;
  /** Keys asked for per ListObjectsV2 page (default and maximum 1000, S3's page size). */
  listPageSize?: number;
  /** Retries of throttling, 5xx and network errors (default {@link DEFAULT_RETRY_POLICY}). */
  retry?: Partial<RetryPolicy>;
  /** Time to establish a connection, in ms (default 5_000). */
  connectionTimeoutMs?: number;
  /** Socket inactivity allowed during a request, in ms (default 30_000). */
  requestTimeoutMs?: number;
}

/** What the S3 store needs. */
export interface S3StoreDeps {
  logger: Logger;
}

const MIB = 1024 * 1024;
/** The smallest part S3 accepts (except for the last one). */
const MIN_PART_BYTES = 5 * MIB;
/** ListObjectsV2 returns at most this many keys per page. */
const MAX_LIST_PAGE = 1000;

// Error codes S3 APIs use for throttling (AWS S3 answers 503 SlowDown; others 429).
const THROTTLING = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "BandwidthLimitExceeded",
]);
// Errors that are worth another try although their status is below 500.
const TRANSIENT = new Set([
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "InternalError",
  "ServiceUnavailable",
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

function httpStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** The S3 error code (SDK errors are named after it), else a Node error code (`ECONNREFUSED` …). */
function errorName(err: unknown): string {
  const e = err as SdkErrorShape | undefined;
  if (e?.name && e.name !== "Error") return e.name;
  return e?.code ?? e?.name ?? "";
}

/**
 * True for throttling, 5xx and errors without an HTTP response (connection refused or reset,
 * timeouts): the S3 API may answer the same call later. Other 4xx are final.
 */
export function isTransientS3Error(err: unknown): boolean {
  if (err instanceof ChainkeepError) return false;
  const name = errorName(err);
  if (name === "CredentialsProviderError") return false;
  const status = httpStatus(err);
  if ((err as SdkErrorShape | undefined)?.$retryable) return true;
  if (THROTTLING.has(name) || TRANSIENT.has(name)) return true;
  if (status === 429 || (status !== undefined && status >= 500)) return true;
  // No HTTP response at all: the server was not reached or the connection broke.
  return status === undefined;
}

function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return name === "NoSuchKey" || name === "NotFound" || (httpStatus(err) === 404 && name !== "NoSuchBucket");
}

/** The key rules of every chainkeep object store: relative, `/`-separated, no `..`. */
function checkKey(key: string): void {
  if (key.length === 0 || key.includes("..") || key.startsWith("/") || key.includes("\\")) {
    throw new StoreError("STORE_IO", `invalid object key ${JSON.stringify(key)}`, { key });
  }
}

/**
 * An object store on any S3 API (AWS S3, MinIO, Ceph RGW, s3rver) with `@aws-sdk/client-s3`.
 * A key `a/b` is the object `{keyPrefix}a/b` in `bucket`. Objects above `multipartThresholdBytes`
 * go up as multipart uploads (an object appears whole when the upload completes). Throttling, 5xx
 * and network errors are retried with exponential backoff and jitter, `retry.attempts` calls in
 * all, then fail with `STORE_UNAVAILABLE`; other errors fail at once with `STORE_IO`. On AWS the
 * credentials need `s3:ListBucket` besides get/put/delete: without it S3 answers a missing key with
 * 403 instead of 404, which this store cannot tell from a refusal.
 */
export class S3Store implements ObjectStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly keyPrefix: string;
  private readonly threshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly listPage: number;
  private readonly policy: RetryPolicy;
  private readonly log: Logger;

  constructor(opts: S3StoreOptions, deps: S3StoreDeps) {
    if (!opts.bucket) throw new CommonError("CONFIG_INVALID", "the S3 store needs a bucket");
    this.bucket = opts.bucket;
    const prefix = opts.keyPrefix ?? "";
    this.keyPrefix = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
    this.threshold = Math.max(1, opts.multipartThresholdBytes ?? 8 * MIB);
    this.partSize = Math.max(MIN_PART_BYTES, opts.partSizeBytes ?? 8 * MIB);
    this.partConcurrency = Math.max(1, opts.partConcurrency ?? 4);
    this.listPage = Math.min(MAX_LIST_PAGE, Math.max(1, opts.listPageSize ?? MAX_LIST_PAGE));
    this.policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    this.log = deps.logger.child({ module: "s3-store", bucket: opts.bucket });
    this.client = new S3Client({
      region: opts.region ?? DEFAULT_S3_REGION,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // Retries are ours (bounded, then STORE_UNAVAILABLE): one SDK attempt per call.
      maxAttempts: 1,
      // Checksums only where an operation requires them: S3 APIs other than AWS differ in which
      // of the newer flexible-checksum headers they accept.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        connectionTimeout: opts.connectionTimeoutMs ?? 5_000,
        requestTimeout: opts.requestTimeoutMs ?? 30_000,
      },
    });
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    checkKey(key);
    if (data.length > this.threshold) {
      await this.putMultipart(key, data);
      return;
    }
    await this.call("put", key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keyPrefix + key,
          Body: data,
          ContentLength: data.length,
          ContentType: "application/octet-stream",
        }),
      ),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.call("get", key, async () => {
      try {
        const res = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }),
        );
        if (!res.Body) return new Uint8Array(0);
        // Reading the body is part of the attempt: a connection that breaks mid-body is retried.
        return await res.Body.transformToByteArray();
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    checkKey(key);
    if (length <= 0) return new Uint8Array(0);
    return this.call("get", key, async () => {
      try {
        const res = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: this.keyPrefix + key,
            Range: `bytes=${offset}-${offset + length - 1}`,
          }),
        );
        if (!res.Body) return new Uint8Array(0);
        const data = await res.Body.transformToByteArray();
        // More than asked for: the server ignored the range (s3rver does for `bytes=0-0`) and
        // sent the whole object.
        return data.length > length ? data.subarray(offset, offset + length) : data;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<string[]> {
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    const out: string[] = [];
    let token: string | undefined;
    while (out.length < limit) {
      const page = await this.call("list", prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix + prefix,
            // S3 ignores StartAfter once a continuation token is given.
            ...(opts.startAfter !== undefined ? { StartAfter: this.keyPrefix + opts.startAfter } : {}),
            ...(token ? { ContinuationToken: token } : {}),
            MaxKeys: Math.min(this.listPage, limit - out.length),
          }),
        ),
      );
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || out.length >= limit) continue;
        out.push(obj.Key.slice(this.keyPrefix.length));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (!token) break;
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.call("delete", key, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key })),
    );
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** CreateMultipartUpload, the parts (a few at a time), CompleteMultipartUpload; aborts on failure. */
  private async putMultipart(key: string, data: Uint8Array): Promise<void> {
    const Key = this.keyPrefix + key;
    const created = await this.call("put", key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          ContentType: "application/octet-stream",
        }),
      ),
    );
    const UploadId = created.UploadId;
    if (!UploadId) {
      throw new StoreError("STORE_IO", `put ${key}: the S3 API returned no upload id`, { key });
    }
    const parts = Math.ceil(data.length / this.partSize);
    const etags: string[] = new Array(parts);
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < parts) {
        const i = next++;
        const body = data.subarray(i * this.partSize, Math.min(data.length, (i + 1) * this.partSize));
        try {
          const res = await this.call("put", key, () =>
            this.client.send(
              new UploadPartCommand({
                Bucket: this.bucket,
                Key,
                UploadId,
                PartNumber: i + 1,
                Body: body,
                ContentLength: body.length,
              }),
            ),
          );
          etags[i] = res.ETag ?? "";
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.partConcurrency, parts) }, worker));
      await this.call("put", key, (attempt) =>
        this.client
          .send(
            new CompleteMultipartUploadCommand({
              Bucket: this.bucket,
              Key,
              UploadId,
              MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
            }),
          )
          .catch((err: unknown) => {
            // A retry after a completion whose answer was lost finds the upload gone: it is done.
            if (attempt > 1 && errorName(err) === "NoSuchUpload") return undefined;
            throw err;
          }),
      );
      this.log.debug({ key, bytes: data.length, parts }, "multipart upload complete");
    } catch (err) {
      // Best effort: an upload left behind costs storage until a lifecycle rule removes it.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
        .catch((abortErr: unknown) =>
          this.log.warn({ key, err: errorMessage(abortErr) }, "aborting a multipart upload failed"),
        );
      throw err;
    }
  }

  /** Runs one S3 call with the retry policy and maps its failure to a ChainkeepError. */
  private async call<T>(op: string, key: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    const outcome = await retry(fn, this.policy, {
      isTransient: isTransientS3Error,
      onRetry: (err, attempt, delayMs) =>
        this.log.debug({ op, key, attempt, delayMs, err: errorMessage(err) }, "S3 call failed, retrying"),
    });
    if (outcome.ok) return outcome.value;
    const { error, attempts } = outcome;
    if (error instanceof ChainkeepError) throw error;
    const meta = { op, key, attempts, status: httpStatus(error), error: errorName(error) };
    if (outcome.transient) {
      this.log.warn({ ...meta, err: errorMessage(error) }, "S3 API unavailable");
      throw new StoreError(
        "STORE_UNAVAILABLE",
        `${op} ${key}: the S3 API is unavailable after ${attempts} attempts: ${errorMessage(error)}`,
        meta,
        { cause: error },
      );
    }
    throw new StoreError("STORE_IO", `${op} ${key} failed: ${errorMessage(error)}`, meta, {
      cause: error,
    });
  }
}
