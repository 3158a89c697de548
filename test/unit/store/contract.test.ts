/**
 * The object-store contract (src/store/types.ts), run unchanged against every implementation:
 * the directory store and the S3 store against a real s3rver over HTTP. A few checks that only
 * make sense for one implementation follow, each in its own block.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FsStore, type ObjectStore, S3Store, type S3StoreOptions } from "../../../src/store/index.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import { S3RVER_CREDENTIALS, type S3rverInstance, startS3rver } from "../../helpers/s3rver.ts";

const MIB = 1024 * 1024;
/** Keys per ListObjectsV2 page in these tests, so that paging is exercised with few objects. */
const LIST_PAGE = 100;
/** Calls per S3 store operation in these tests before it gives up with STORE_UNAVAILABLE. */
const S3_ATTEMPTS = 4;

/** One implementation under test. */
interface Backend {
  store: ObjectStore;
  /** Multipart uploads started so far, for stores that have them. */
  multipartUploads?(): number;
  /** Takes the store's server away and brings it back, for stores that have a server. */
  server?: { stop(): Promise<void>; start(): Promise<void> };
  dispose(): Promise<void>;
}

interface BackendFactory {
  name: string;
  create(): Promise<Backend>;
}

/** Bytes that differ from position to position and from seed to seed (cheap to make). */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i - (i + 4 > size ? i + 4 - size : 0));
  }
  return b;
}

function bytes(data: Uint8Array | undefined): Buffer | undefined {
  return data === undefined ? undefined : Buffer.from(data);
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

const fsBackend: BackendFactory = {
  name: "FsStore",
  async create() {
    const dir = await mkdtemp(join(tmpdir(), "ck-contract-fs-"));
    const store = new FsStore({ dir });
    return {
      store,
      dispose: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

function s3Options(s3: S3rverInstance, extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    credentials: S3RVER_CREDENTIALS,
    keyPrefix: "contract",
    // Small enough that the large-object test goes through multipart uploads.
    multipartThresholdBytes: 1 * MIB,
    partSizeBytes: 5 * MIB,
    listPageSize: LIST_PAGE,
    retry: { attempts: S3_ATTEMPTS, baseDelayMs: 50, maxDelayMs: 400 },
    connectionTimeoutMs: 2_000,
    ...extra,
  };
}

const s3Backend: BackendFactory = {
  name: "S3Store (s3rver)",
  async create() {
    const s3 = await startS3rver();
    const store = new S3Store(s3Options(s3), { logger: silentLogger() });
    return {
      store,
      multipartUploads: () =>
        s3.requests.filter((r) => r.method === "POST" && /[?&]uploads\b/.test(r.url)).length,
      server: { stop: () => s3.stop(), start: () => s3.start() },
      dispose: async () => {
        await store.close();
        await s3.dispose();
      },
    };
  },
};

function contract(factory: BackendFactory): void {
  describe(`ObjectStore contract: ${factory.name}`, () => {
    let backend: Backend;
    let store: ObjectStore;
    before(async () => {
      backend = await factory.create();
      store = backend.store;
    });
    after(async () => {
      await backend?.dispose();
    });

    test("put then get returns the same bytes; overwrite replaces; empty objects exist", async () => {
      await store.put("a/b/c", Buffer.from("hello"));
      assert.deepEqual(bytes(await store.get("a/b/c")), Buffer.from("hello"));
      await store.put("a/b/c", Buffer.from("hello again"));
      assert.deepEqual(bytes(await store.get("a/b/c")), Buffer.from("hello again"));
      await store.put("a/empty", new Uint8Array(0));
      assert.deepEqual(bytes(await store.get("a/empty")), Buffer.alloc(0));
      const binary = pattern(4096, 7);
      await store.put("a/binary", binary);
      assert.deepEqual(bytes(await store.get("a/binary")), binary);
    });

    test("getRange reads a byte range (segments read a run of blocks this way)", async () => {
      const binary = pattern(10_000, 3);
      await store.put("r/obj", binary);
      assert.ok(store.getRange, "implemented");
      assert.deepEqual(bytes(await store.getRange?.("r/obj", 1234, 4000)), binary.subarray(1234, 5234));
      assert.deepEqual(bytes(await store.getRange?.("r/obj", 0, 1)), binary.subarray(0, 1));
      assert.equal(await store.getRange?.("r/missing", 0, 10), undefined);
    });

    test("missing keys: get is undefined, delete is fine, list is empty", async () => {
      assert.equal(await store.get("missing/key"), undefined);
      await store.put("m/x/y", Buffer.from("."));
      assert.equal(await store.get("m/x"), undefined, "a key's parent path is not an object");
      await store.delete("missing/key");
      assert.deepEqual(await store.list("missing/"), []);
    });

    test("lists in key order with prefix, startAfter and limit", async () => {
      for (const h of [3, 1, 2, 10]) {
        for (const ts of [5, 7])
          await store.put(`p/heads/${String(h).padStart(4, "0")}/${ts}-x`, Buffer.from("."));
      }
      await store.put("p/headsX", Buffer.from("."));
      await store.put("p/other/1", Buffer.from("."));
      const all = await store.list("p/heads/");
      assert.equal(all.length, 8);
      assert.deepEqual(all, [...all].sort());
      assert.deepEqual(await store.list("p/heads/", { startAfter: "p/heads/0002/~", limit: 3 }), [
        "p/heads/0003/5-x",
        "p/heads/0003/7-x",
        "p/heads/0010/5-x",
      ]);
      assert.deepEqual(await store.list("p/heads/", { startAfter: "p/heads/0003/5-x" }), [
        "p/heads/0003/7-x",
        "p/heads/0010/5-x",
        "p/heads/0010/7-x",
      ]);
      assert.deepEqual(
        await store.list("p/heads/", { startAfter: "a" }),
        all,
        "startAfter before the prefix",
      );
      assert.deepEqual(await store.list("p/heads/", { startAfter: "q" }), [], "startAfter past the prefix");
      assert.deepEqual(await store.list("p/heads/", { limit: 0 }), []);
      assert.deepEqual(await store.list("p/heads/0001/"), ["p/heads/0001/5-x", "p/heads/0001/7-x"]);
      assert.deepEqual(await store.list("p/heads/0001/5"), ["p/heads/0001/5-x"]);
      assert.deepEqual(await store.list("p/heads"), [...all, "p/headsX"], "a prefix need not end in /");
      assert.deepEqual(await store.list("nothing/"), []);
    });

    test("lists across listing pages in order, with startAfter and limit", async () => {
      // Three S3 pages here (LIST_PAGE); S3's own page of 1000 is the store's default.
      const keys = Array.from({ length: 2 * LIST_PAGE + 50 }, (_, i) => `many/${String(i).padStart(5, "0")}`);
      await pool(keys, 16, (k) => store.put(k, Buffer.from(k)));
      await store.put("manyX", Buffer.from("."));
      assert.deepEqual(await store.list("many/"), keys);
      const from = LIST_PAGE - 1;
      assert.deepEqual(
        await store.list("many/", { startAfter: keys[from], limit: LIST_PAGE + 20 }),
        keys.slice(from + 1, from + 1 + LIST_PAGE + 20),
      );
      assert.deepEqual(
        await store.list("many/", { startAfter: keys[2 * LIST_PAGE - 1] }),
        keys.slice(2 * LIST_PAGE),
      );
      assert.deepEqual(await store.list("many/", { limit: 2 * LIST_PAGE }), keys.slice(0, 2 * LIST_PAGE));
    });

    test("large objects (20 MiB) round-trip whole, above the multipart threshold", async () => {
      const big = pattern(20 * MIB, 42);
      const uploadsBefore = backend.multipartUploads?.();
      await store.put("large/object", big);
      const got = bytes(await store.get("large/object"));
      assert.equal(got?.length, big.length);
      assert.ok(got?.equals(big), "the bytes read back differ");
      assert.deepEqual(await store.list("large/"), ["large/object"]);
      if (uploadsBefore !== undefined) {
        assert.equal(backend.multipartUploads?.(), uploadsBefore + 1, "one multipart upload");
      }
    });

    test("concurrent writers to different keys all land", async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `conc/diff/${String(i).padStart(3, "0")}`);
      await Promise.all(keys.map((k, i) => store.put(k, pattern(8 * 1024 + i, i))));
      assert.deepEqual(await store.list("conc/diff/"), keys);
      for (const [i, k] of keys.entries())
        assert.deepEqual(bytes(await store.get(k)), pattern(8 * 1024 + i, i));
    });

    test("concurrent writers to one key leave one whole object", async () => {
      const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(64 * 1024, i));
      await Promise.all(bodies.map((b) => store.put("conc/same/key", b)));
      const got = bytes(await store.get("conc/same/key"));
      assert.equal(got?.length, 64 * 1024);
      assert.ok(
        bodies.some((b) => got && b.equals(got)),
        "the object is one writer's, whole",
      );
      assert.deepEqual(await store.list("conc/same/"), ["conc/same/key"]);
      // Two large writers at once (multipart where the store has it).
      const large = [pattern(6 * MIB, 1), pattern(6 * MIB, 2)];
      await Promise.all(large.map((b) => store.put("conc/same/large", b)));
      const gotLarge = bytes(await store.get("conc/same/large"));
      assert.ok(
        large.some((b) => gotLarge && b.equals(gotLarge)),
        "the large object is one writer's, whole",
      );
    });

    test("refuses keys that escape the root", async () => {
      await assert.rejects(store.put("../evil", Buffer.from("x")), { code: "STORE_IO" });
      await assert.rejects(store.put("/abs", Buffer.from("x")), { code: "STORE_IO" });
      await assert.rejects(store.get("a/../../evil"), { code: "STORE_IO" });
      await assert.rejects(store.put("", Buffer.from("x")), { code: "STORE_IO" });
    });

    test("delete removes, and deleting a missing key is fine", async () => {
      await store.put("d/1", Buffer.from("x"));
      await store.put("d/2", Buffer.from("y"));
      await store.delete("d/1");
      await store.delete("d/1");
      assert.equal(await store.get("d/1"), undefined);
      assert.deepEqual(await store.list("d/"), ["d/2"]);
    });

    test("server down: every call fails with STORE_UNAVAILABLE after bounded retries; back up, calls succeed", async (t) => {
      const server = backend.server;
      if (!server) {
        t.skip("a directory has no server to lose");
        return;
      }
      await store.put("outage/before", Buffer.from("kept"));
      await server.stop();
      try {
        const started = Date.now();
        const calls: [string, () => Promise<unknown>][] = [
          ["put", () => store.put("outage/during", Buffer.from("x"))],
          ["get", () => store.get("outage/before")],
          ["get missing", () => store.get("outage/missing")],
          ["list", () => store.list("outage/")],
          ["delete", () => store.delete("outage/before")],
          ["large put", () => store.put("outage/large", pattern(3 * MIB, 3))],
        ];
        for (const [what, call] of calls) {
          await assert.rejects(call(), (err: { code?: string; meta?: { attempts?: number } }) => {
            assert.equal(err.code, "STORE_UNAVAILABLE", `${what}: ${String(err)}`);
            assert.equal(err.meta?.attempts, S3_ATTEMPTS, `${what}: attempts`);
            return true;
          });
        }
        // Bounded: attempts × backoff (≤ 400 ms each here), not a hang.
        assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
      } finally {
        await server.start();
      }
      assert.deepEqual(bytes(await store.get("outage/before")), Buffer.from("kept"));
      assert.equal(await store.get("outage/during"), undefined, "nothing was written while down");
      await store.put("outage/after", Buffer.from("y"));
      assert.deepEqual(await store.list("outage/"), ["outage/after", "outage/before"]);
    });
  });
}

contract(fsBackend);
contract(s3Backend);

describe("FsStore specifics", () => {
  let dir: string;
  let store: FsStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-fsstore-"));
    store = new FsStore({ dir });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("concurrent puts of one key leave no temporary files", async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(64 * 1024, i));
    await Promise.all(bodies.map((b) => store.put("race/key", b)));
    assert.deepEqual(await readdir(join(dir, "race")), ["key"]);
  });
});

describe("S3Store specifics (s3rver)", () => {
  let s3: S3rverInstance;
  let store: S3Store;
  before(async () => {
    s3 = await startS3rver();
    store = new S3Store(s3Options(s3, { keyPrefix: "specific/" }), { logger: silentLogger() });
  });
  after(async () => {
    await store?.close();
    await s3?.dispose();
  });

  test("keys live under keyPrefix; another prefix does not see them", async () => {
    await store.put("k/1", Buffer.from("one"));
    const other = new S3Store(s3Options(s3, { keyPrefix: "elsewhere" }), { logger: silentLogger() });
    try {
      assert.equal(await other.get("k/1"), undefined);
      assert.deepEqual(await other.list("k/"), []);
      assert.deepEqual(await store.list("k/"), ["k/1"]);
      assert.ok(s3.requests.some((r) => r.url.startsWith(`/${s3.bucket}/specific/k/1`)));
    } finally {
      await other.close();
    }
  });

  test("throttling (503 SlowDown, 429) and 5xx are retried, then the call succeeds", async () => {
    await store.put("r/1", Buffer.from("v"));
    for (const failure of [
      { status: 503, code: "SlowDown" },
      { status: 429, code: "TooManyRequests" },
      { status: 500, code: "InternalError" },
    ]) {
      s3.requests.length = 0;
      s3.failNext(S3_ATTEMPTS - 1, failure);
      assert.deepEqual(bytes(await store.get("r/1")), Buffer.from("v"), failure.code);
      assert.equal(s3.requests.length, S3_ATTEMPTS, `${failure.code}: one call per attempt`);
    }
  });

  test("throttling that outlasts the attempts ends in STORE_UNAVAILABLE", async () => {
    s3.requests.length = 0;
    s3.failNext(S3_ATTEMPTS, { status: 503, code: "SlowDown" });
    await assert.rejects(store.put("r/2", Buffer.from("v")), {
      code: "STORE_UNAVAILABLE",
      meta: { op: "put", key: "r/2", attempts: S3_ATTEMPTS, status: 503, error: "SlowDown" },
    });
    assert.equal(s3.requests.length, S3_ATTEMPTS);
    assert.equal(await store.get("r/2"), undefined);
  });

  test("other 4xx fail at once with STORE_IO", async () => {
    for (const failure of [
      { status: 403, code: "AccessDenied" },
      { status: 400, code: "InvalidArgument" },
    ]) {
      s3.requests.length = 0;
      s3.failNext(1, failure);
      await assert.rejects(store.get("r/1"), (err: { code?: string; meta?: Record<string, unknown> }) => {
        assert.equal(err.code, "STORE_IO");
        assert.equal(err.meta?.attempts, 1);
        assert.equal(err.meta?.status, failure.status);
        assert.equal(err.meta?.error, failure.code);
        return true;
      });
      assert.equal(s3.requests.length, 1, `${failure.code}: no retry`);
    }
    const noBucket = new S3Store(s3Options(s3, { bucket: "no-such-bucket" }), { logger: silentLogger() });
    try {
      await assert.rejects(noBucket.get("x"), (err: { code?: string; meta?: Record<string, unknown> }) => {
        assert.equal(err.code, "STORE_IO");
        assert.equal(err.meta?.error, "NoSuchBucket");
        return true;
      });
      await assert.rejects(noBucket.put("x", Buffer.from("x")), { code: "STORE_IO" });
    } finally {
      await noBucket.close();
    }
  });

  test("a part that fails for good aborts the multipart upload; the object does not appear", async () => {
    s3.requests.length = 0;
    s3.failNext(
      1,
      { status: 403, code: "AccessDenied" },
      (r) => r.method === "PUT" && /[?&]partNumber=2\b/.test(r.url),
    );
    await assert.rejects(store.put("mp/failed", pattern(11 * MIB, 9)), { code: "STORE_IO" });
    s3.clearFailures();
    assert.ok(
      s3.requests.some((r) => r.method === "DELETE" && /[?&]uploadId=/.test(r.url)),
      "AbortMultipartUpload was sent",
    );
    assert.equal(await store.get("mp/failed"), undefined);
    assert.deepEqual(await store.list("mp/"), []);
  });
});
