import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FsStore, HttpStore, RECOVERY_PATH, serveObjects } from "../../../src/store/index.ts";
import { runChainkeep } from "../../helpers/cluster.ts";

describe("the recovery API (serveObjects) and its client (HttpStore)", () => {
  let dir: string;
  let server: Server;
  let url: string;
  const root = "primary/7/";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ck-http-"));
    const store = new FsStore({ dir, fsync: false });
    for (let i = 0; i < 25; i++)
      await store.put(`${root}heads/${String(i).padStart(12, "0")}/x`, Buffer.from(`head ${i}`));
    await store.put(`${root}segments/a/data`, Buffer.from("0123456789"));
    await store.put("primary/8/meta.json", Buffer.from("{}"));
    const handler = serveObjects(
      () => [{ chainId: 7, prefix: "primary", root, store, describe: () => ({ durableHeight: 24 }) }],
      {
        token: "s3cret",
      },
    );
    server = createServer((req, res) => {
      handler(req, res).then((done) => {
        if (!done) res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const addr = server.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}/`;
  });

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  test("a request without the bearer token, or with another one, is refused (401)", async () => {
    assert.equal((await fetch(`${url}${RECOVERY_PATH.slice(1)}chains`)).status, 401);
    const wrong = await fetch(`${url}${RECOVERY_PATH.slice(1)}chains`, {
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.status, 401);
    await assert.rejects(new HttpStore(url).chains(), { code: "STORE_UNAVAILABLE" });
  });

  test("with the token: chains, paged listing in key order, objects, ranged reads; read-only", async () => {
    const c = new HttpStore(url, { token: "s3cret" });
    assert.deepEqual(await c.chains(), [{ chainId: 7, prefix: "primary", root, durableHeight: 24 }]);
    const heads = await c.list(`${root}heads/`);
    assert.equal(heads.length, 25);
    assert.deepEqual(heads, [...heads].sort());
    assert.deepEqual(await c.list(`${root}heads/`, { startAfter: heads[20], limit: 2 }), heads.slice(21, 23));
    assert.equal(Buffer.from((await c.get(heads[3] as string)) as Uint8Array).toString(), "head 3");
    assert.equal(
      Buffer.from((await c.getRange(`${root}segments/a/data`, 3, 4)) as Uint8Array).toString(),
      "3456",
    );
    assert.equal(await c.get(`${root}nothing`), undefined);
    // Only the chains served, and no way out of them.
    assert.deepEqual(await c.list("primary/8/"), []);
    assert.equal(await c.get("primary/8/meta.json"), undefined);
    assert.equal(await c.get(`${root}../8/meta.json`), undefined);
    await assert.rejects(c.put("k", new Uint8Array()), { code: "INVALID_ARGUMENT" });
    await assert.rejects(c.delete("k"), { code: "INVALID_ARGUMENT" });
    const post = await fetch(`${url}${RECOVERY_PATH.slice(1)}chains`, {
      method: "POST",
      headers: { authorization: "Bearer s3cret" },
    });
    assert.equal(post.status, 405);
  });

  test("an archiver listening beyond loopback without a token refuses to start", async () => {
    const r = await runChainkeep("archiver-open", [
      "archiver",
      "--store",
      dir,
      "--data-dir",
      join(dir, "a"),
      "--rpc-port",
      "0",
      "--rpc-host",
      "0.0.0.0",
    ]);
    assert.equal(r.ok, false);
    assert.match(r.output, /recovery-token/);
  });
});
