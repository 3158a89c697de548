/** Log filters: the logsBloom pre-check never skips a block holding a match; matching semantics. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { RpcLog } from "../../../src/format/types.ts";
import { bloomMayMatch, compileFilter, matchLog } from "../../../src/rpc/logs.ts";
import type { Hex } from "../../../src/util/hex.ts";
import { buildFixture, type Fixture } from "./fixture.ts";

const OTHER: Hex = `0x${"77".repeat(32)}`;

describe("log filters", () => {
  let fx: Fixture;
  before(async () => {
    fx = await buildFixture();
  });
  after(async () => {
    await fx?.anvil.stop();
  });

  it("finds every log's address and topics in its block's bloom", () => {
    let checked = 0;
    for (let h = 0; h <= fx.multiTxBlock; h++) {
      const bloom = fx.view.logsBloom(h);
      for (const log of fx.view.blockLogs(h)) {
        assert.ok(bloomMayMatch(compileFilter([log.address], null), bloom));
        assert.ok(
          bloomMayMatch(
            compileFilter(
              undefined,
              log.topics.map((t) => [t]),
            ),
            bloom,
          ),
        );
        assert.ok(
          bloomMayMatch(compileFilter([log.address, fx.accounts[0] as Hex], [[OTHER, ...log.topics]]), bloom),
        );
        checked++;
      }
    }
    assert.ok(checked >= 4);
  });

  it("skips blocks that cannot match", () => {
    const empty = fx.view.logsBloom(fx.emptyBlock);
    assert.equal(bloomMayMatch(compileFilter([fx.contract], null), empty), false);
    const head = fx.view.logsBloom(fx.multiTxBlock);
    assert.equal(bloomMayMatch(compileFilter(undefined, [[OTHER]]), head), false);
    // No address or topic constraint: every block may match.
    assert.ok(bloomMayMatch(compileFilter([], [null, []]), empty));
  });

  it("matches as the upstream does: OR within a position, wildcards past the log's topics", () => {
    const log = fx.view.blockLogs(fx.multiTxBlock)[0] as RpcLog;
    const [t0, t1] = log.topics as [Hex, Hex];
    assert.ok(matchLog(compileFilter(undefined, [[OTHER, t0]]), log));
    assert.ok(matchLog(compileFilter(undefined, [null, [t1]]), log));
    assert.ok(matchLog(compileFilter(undefined, [null, null, null, null]), log));
    assert.equal(matchLog(compileFilter(undefined, [null, null, [t0]]), log), false);
    assert.equal(matchLog(compileFilter(undefined, [[t1]]), log), false);
    assert.ok(matchLog(compileFilter([log.address.toUpperCase().replace("0X", "0x") as Hex], null), log));
    assert.equal(matchLog(compileFilter([fx.accounts[0] as Hex], null), log), false);
  });
});
