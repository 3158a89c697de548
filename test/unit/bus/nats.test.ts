import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type HeadNotice, NatsBus, type NatsBusOptions } from "../../../src/bus/index.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import { type NatsServerInstance, startNatsServer } from "../../helpers/nats.ts";
import { freePort, waitFor } from "../../helpers/net.ts";

function notice(chainId: number, height: number): HeadNotice {
  return {
    chainId,
    prefix: "primary",
    height,
    hash: `0x${height.toString(16).padStart(64, "0")}`,
    writeTs: 1_700_000_000_000 + height,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("NatsBus on a real nats-server (JetStream)", () => {
  let server: NatsServerInstance;
  const buses: NatsBus[] = [];

  function newBus(extra: Partial<NatsBusOptions> = {}): NatsBus {
    const bus = new NatsBus(
      { servers: server.url, reconnectWaitMs: 100, publishTimeoutMs: 1_000, pullExpiresMs: 2_000, ...extra },
      { logger: silentLogger() },
    );
    buses.push(bus);
    return bus;
  }

  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await server?.dispose();
  });

  test("notices published on one connection reach subscribers on another, per chain", async () => {
    const pub = newBus();
    const sub = newBus();
    const chain1: HeadNotice[] = [];
    const chain2: HeadNotice[] = [];
    sub.subscribe(1, (n) => chain1.push(n));
    sub.subscribe(2, (n) => chain2.push(n));
    assert.ok(await pub.ready(10_000), "publisher connected");
    assert.ok(await sub.ready(10_000), "subscriber connected");
    for (let h = 1; h <= 5; h++) await pub.publish(notice(1, h));
    await pub.publish(notice(2, 100));
    await waitFor(async () => chain1.length >= 5 && chain2.length >= 1, {
      what: "notices",
      timeoutMs: 10_000,
    });
    assert.deepEqual(
      chain1,
      [1, 2, 3, 4, 5].map((h) => notice(1, h)),
    );
    assert.deepEqual(chain2, [notice(2, 100)]);
    // The same notice twice is one message (JetStream's duplicate window).
    await pub.publish(notice(1, 5));
    await pub.publish(notice(1, 6));
    await waitFor(async () => chain1.length >= 6, { what: "notice 6", timeoutMs: 10_000 });
    assert.deepEqual(
      chain1.map((n) => n.height),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(pub.stats().dropped, 0);
    assert.equal(pub.stats().published, 8);
    assert.equal(pub.subject(1), "chainkeep.1.heads");
  });

  test("a subscriber that joins late gets only new notices; unsubscribe stops delivery", async () => {
    const pub = newBus();
    const early = newBus();
    const earlyGot: number[] = [];
    early.subscribe(3, (n) => earlyGot.push(n.height));
    assert.ok(await pub.ready(10_000));
    assert.ok(await early.ready(10_000));
    await pub.publish(notice(3, 1));
    await pub.publish(notice(3, 2));
    await waitFor(async () => earlyGot.length >= 2, { what: "early notices", timeoutMs: 10_000 });

    const late = newBus();
    const lateGot: number[] = [];
    const unsubscribe = late.subscribe(3, (n) => lateGot.push(n.height));
    assert.ok(await late.ready(10_000));
    await pub.publish(notice(3, 3));
    await waitFor(async () => lateGot.length >= 1 && earlyGot.length >= 3, {
      what: "notice 3",
      timeoutMs: 10_000,
    });
    assert.deepEqual(lateGot, [3], "nothing from before it joined");
    assert.deepEqual(earlyGot, [1, 2, 3]);

    unsubscribe();
    await pub.publish(notice(3, 4));
    await waitFor(async () => earlyGot.length >= 4, { what: "notice 4", timeoutMs: 10_000 });
    await sleep(200);
    assert.deepEqual(lateGot, [3], "no delivery after unsubscribe");
  });

  test("server killed for a few seconds: publishes fail quietly, then notices flow again", async () => {
    const pub = newBus();
    const sub = newBus();
    const got: number[] = [];
    sub.subscribe(7, (n) => got.push(n.height));
    assert.ok(await pub.ready(10_000));
    assert.ok(await sub.ready(10_000));
    await pub.publish(notice(7, 1));
    await waitFor(async () => got.includes(1), { what: "notice 1", timeoutMs: 10_000 });

    await server.stop("SIGKILL");
    try {
      await waitFor(async () => !pub.stats().connected, {
        what: "publisher sees the outage",
        timeoutMs: 5_000,
      });
      const started = Date.now();
      for (let h = 2; h <= 4; h++) await pub.publish(notice(7, h)); // resolves: never throws
      assert.ok(Date.now() - started < 1_000, `publishing while down took ${Date.now() - started} ms`);
      assert.equal(pub.stats().dropped, 3);
      await sleep(3_000);
    } finally {
      await server.start();
    }

    // Both sides reconnect by themselves; the subscriber's consumer comes back too.
    let h = 10;
    await waitFor(
      async () => {
        await pub.publish(notice(7, h++));
        return got.some((x) => x >= 10);
      },
      { what: "a notice after the restart", timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.ok(pub.stats().connected && sub.stats().connected);
    assert.ok(
      got.every((x) => x < 2 || x >= 10),
      `dropped notices must not arrive later: ${got.join(",")}`,
    );
    // Once back, every notice arrives, in order.
    const from = h;
    for (let k = from; k < from + 5; k++) await pub.publish(notice(7, k));
    await waitFor(async () => got.includes(from + 4), { what: "notices after recovery", timeoutMs: 10_000 });
    assert.deepEqual(
      got.filter((x) => x >= from),
      [0, 1, 2, 3, 4].map((i) => from + i),
    );
  });

  test("with no server to reach, publish resolves at once and close does not hang", async () => {
    const nowhere = new NatsBus(
      { servers: `nats://127.0.0.1:${await freePort()}`, reconnectWaitMs: 100, connectTimeoutMs: 500 },
      { logger: silentLogger() },
    );
    const got: HeadNotice[] = [];
    nowhere.subscribe(1, (n) => got.push(n));
    assert.equal(await nowhere.ready(300), false);
    const started = Date.now();
    await nowhere.publish(notice(1, 1));
    assert.ok(Date.now() - started < 200);
    assert.deepEqual(nowhere.stats(), { connected: false, published: 0, dropped: 1, received: 0 });
    await nowhere.close();
    assert.deepEqual(got, []);
  });
});
