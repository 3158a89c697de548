/**
 * A real S3 API for tests: `s3rver` (npm) served over HTTP on a free 127.0.0.1 port, with its
 * objects in a temporary directory. The test can stop it (connections closed, the port free) and
 * start it again on the same port with the same data, and make the next requests fail with a
 * chosen S3 error, to see what a client does when the server is down, throttles or refuses.
 */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { freePort } from "./net.ts";

// s3rver is CommonJS without bundled types; only what the helper uses is typed here.
interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}
interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
}
interface S3rverApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  configureBuckets(): Promise<void>;
  store: S3rverFilesystemStore;
}
const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as new (opts: Record<string, unknown>) => S3rverApp;

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES ("des"), which OpenSSL 3 (Node
 * 17 and later) no longer offers, so every truncated listing fails with InternalError. Triple DES
 * with one key three times is single DES, byte for byte: route s3rver's "des" there. Only the
 * CommonJS `crypto` object s3rver uses is touched, only for that algorithm name.
 */
function patchDesForS3rver(): void {
  type CipherFactory = (alg: string, key: Buffer, iv: Buffer | null, ...rest: unknown[]) => unknown;
  const crypto = require("node:crypto") as Record<"createCipheriv" | "createDecipheriv", CipherFactory> & {
    __chainkeepDesPatched?: boolean;
  };
  if (crypto.__chainkeepDesPatched) return;
  crypto.__chainkeepDesPatched = true;
  for (const name of ["createCipheriv", "createDecipheriv"] as const) {
    const original = crypto[name];
    crypto[name] = (alg, key, iv, ...rest) =>
      alg.toLowerCase() === "des" && key.length === 8
        ? original("des-ede3-cbc", Buffer.concat([key, key, key]), iv, ...rest)
        : original(alg, key, iv, ...rest);
  }
}

/**
 * s3rver's file store writes an object in place and answers before the file is flushed, so a
 * get right after a put can read a partial object and two writers of one key interleave their
 * bytes. Every S3 API the store targets makes a put atomic and complete before it answers: write
 * a temporary file outside the bucket directories, then rename it into place.
 */
function makePutsAtomic(store: S3rverFilesystemStore, tmpDir: string): void {
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, "object");
    await mkdir(dirname(objectPath), { recursive: true });
    const tmp = join(tmpDir, randomBytes(8).toString("hex"));
    const md5 = createHash("md5");
    let size = 0;
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    try {
      await pipeline(
        source,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(tmp),
      );
      await rename(tmp, objectPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const digest = md5.digest("hex");
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

/** The access key pair s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** One request the server saw (injected failures included). */
export interface S3rverRequest {
  method: string;
  /** Path and query, e.g. `/bucket/key?uploads`. */
  url: string;
}

/** An S3 error to answer instead of serving a request. */
export interface InjectedFailure {
  /** HTTP status, e.g. 503. */
  status: number;
  /** S3 error code, e.g. `SlowDown`, `InternalError`, `AccessDenied`. */
  code: string;
}

/** A running s3rver. */
export interface S3rverInstance {
  /** `http://127.0.0.1:{port}`. */
  endpoint: string;
  port: number;
  /** A bucket that exists. */
  bucket: string;
  /** Every request seen since start (or since `requests.length = 0`). */
  requests: S3rverRequest[];
  /** Whether it is listening. */
  readonly running: boolean;
  /** Closes the listener and every open connection; the data stays. */
  stop(): Promise<void>;
  /** Listens again on the same port (after {@link stop}). */
  start(): Promise<void>;
  /**
   * Answers the next `count` requests (those `match` accepts, default all) with `failure` instead
   * of serving them.
   */
  failNext(count: number, failure: InjectedFailure, match?: (req: S3rverRequest) => boolean): void;
  /** Drops the failures not injected yet. */
  clearFailures(): void;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/** Options of {@link startS3rver}. */
export interface StartS3rverOptions {
  /** Bucket created before the first request (default `chainkeep`). */
  bucket?: string;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off("listening", onListening);
      reject(err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ port, host: "127.0.0.1", exclusive: true });
  });
}

/** Starts s3rver on a free loopback port with one bucket. */
export async function startS3rver(opts: StartS3rverOptions = {}): Promise<S3rverInstance> {
  patchDesForS3rver();
  const bucket = opts.bucket ?? "chainkeep";
  const dir = await mkdtemp(join(tmpdir(), "ck-s3rver-"));
  const tmpDir = join(dir, "tmp");
  await mkdir(tmpDir);
  const app = new S3rver({
    silent: true,
    directory: join(dir, "data"),
    configureBuckets: [{ name: bucket }],
    // Requests go to an IP address, path-style.
    vhostBuckets: false,
  });
  makePutsAtomic(app.store, tmpDir);
  await app.configureBuckets();
  const serve = app.callback();
  const requests: S3rverRequest[] = [];
  const failures: { failure: InjectedFailure; match: (req: S3rverRequest) => boolean }[] = [];

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const seen = { method: req.method ?? "", url: req.url ?? "" };
    requests.push(seen);
    const at = failures.findIndex((f) => f.match(seen));
    if (at < 0) {
      serve(req, res);
      return;
    }
    const failure = (failures.splice(at, 1)[0] as (typeof failures)[number]).failure;
    // Read the whole body first, as a real server would before it answers.
    req.resume();
    req.on("end", () => {
      const body =
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${failure.code}</Code>` +
        `<Message>injected by the test</Message><RequestId>test</RequestId></Error>`;
      res.writeHead(failure.status, { "content-type": "application/xml", "content-length": body.length });
      res.end(body);
    });
  };

  let server: Server | undefined;
  let port = 0;
  const open = async (wanted: number): Promise<void> => {
    const s = createServer(handler);
    await listen(s, wanted);
    server = s;
  };
  // The port is free when chosen but may be taken before we bind: pick another then.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await open(port);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 5) throw err;
    }
  }

  const stop = async () => {
    const s = server;
    if (!s) return;
    server = undefined;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    requests,
    get running() {
      return server !== undefined;
    },
    stop,
    async start() {
      if (server) return;
      // The same port: a moment after close it may still be held; retry for a few seconds.
      const deadline = Date.now() + 5_000;
      for (;;) {
        try {
          await open(port);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    failNext(count, failure, match = () => true) {
      for (let i = 0; i < count; i++) failures.push({ failure, match });
    },
    clearFailures() {
      failures.length = 0;
    },
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
