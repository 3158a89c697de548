import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FsStore } from "../../../src/store/index.ts";

describe("FsStore", () => {
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

  test("put then get returns the same bytes; a missing key is undefined", async () => {
    await store.put("a/b/c", Buffer.from("hello"));
    assert.deepEqual(Buffer.from((await store.get("a/b/c")) ?? []), Buffer.from("hello"));
    assert.equal(await store.get("a/b/missing"), undefined);
    assert.equal(await store.get("a/b"), undefined, "a directory is not an object");
  });

  test("lists in key order with prefix, startAfter and limit", async () => {
    for (const h of [3, 1, 2, 10]) {
      for (const ts of [5, 7])
        await store.put(`p/heads/${String(h).padStart(4, "0")}/${ts}-x`, Buffer.from("."));
    }
    const all = await store.list("p/heads/");
    assert.deepEqual(all, [...all].sort());
    assert.equal(all.length, 8);
    assert.deepEqual(await store.list("p/heads/", { startAfter: "p/heads/0002/~", limit: 3 }), [
      "p/heads/0003/5-x",
      "p/heads/0003/7-x",
      "p/heads/0010/5-x",
    ]);
    assert.deepEqual(await store.list("p/heads/0001/"), ["p/heads/0001/5-x", "p/heads/0001/7-x"]);
    assert.deepEqual(await store.list("p/heads/0001/5"), ["p/heads/0001/5-x"]);
    assert.deepEqual(await store.list("nothing/"), []);
  });

  test("concurrent puts of one key leave one whole object and no temporary files", async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(64 * 1024, i));
    await Promise.all(bodies.map((b) => store.put("race/key", b)));
    const got = Buffer.from((await store.get("race/key")) ?? []);
    assert.equal(got.length, 64 * 1024);
    assert.ok(bodies.some((b) => b.equals(got)));
    assert.deepEqual(await readdir(join(dir, "race")), ["key"]);
  });

  test("refuses keys that escape the root", async () => {
    await assert.rejects(store.put("../evil", Buffer.from("x")), { code: "STORE_IO" });
    await assert.rejects(store.put("/abs", Buffer.from("x")), { code: "STORE_IO" });
  });

  test("delete removes, and deleting a missing key is fine", async () => {
    await store.put("d/1", Buffer.from("x"));
    await store.delete("d/1");
    await store.delete("d/1");
    assert.equal(await store.get("d/1"), undefined);
  });
});
