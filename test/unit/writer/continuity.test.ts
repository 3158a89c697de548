import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AccountState, StateDiff } from "../../../src/format/index.ts";
import { CommittedState } from "../../../src/writer/continuity.ts";

const A = "0x00000000000000000000000000000000000000aa";
const CODE = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
const acct = (balance: number, nonce = 0): AccountState => ({
  balance: `0x${balance.toString(16)}`,
  nonce: `0x${nonce.toString(16)}`,
  codeHash: CODE,
});
const word = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as const;
const diff = (
  pre: AccountState | null,
  post: AccountState | null,
  slots: Record<string, [number, number]> = {},
): StateDiff => ({
  accounts: { [A]: { pre, post } },
  storage: Object.keys(slots).length
    ? { [A]: Object.fromEntries(Object.entries(slots).map(([k, [a, b]]) => [k, [word(a), word(b)]])) }
    : {},
  codes: {},
});

describe("CommittedState", () => {
  it("accepts a block whose pre-values are the committed post-values, refuses one that is not", () => {
    const s = new CommittedState();
    s.check(1, diff(acct(10), acct(7), { [word(1)]: [0, 5] }));
    s.record(diff(acct(10), acct(7), { [word(1)]: [0, 5] }));
    s.check(2, diff(acct(7), acct(3), { [word(1)]: [5, 6] }));
    assert.throws(() => s.check(2, diff(acct(8), acct(3))), { code: "UPSTREAM_DIFF_MISMATCH" });
    assert.throws(() => s.check(2, diff(acct(7), acct(3), { [word(1)]: [4, 6] })), {
      code: "UPSTREAM_DIFF_MISMATCH",
    });
  });

  it("forgets the storage of a destroyed account, and everything after a reorg", () => {
    const s = new CommittedState();
    s.record(diff(null, acct(1), { [word(1)]: [0, 9] }));
    s.record(diff(acct(1), null));
    // Recreated: its slot starts from zero whatever was committed before the destruction.
    s.check(3, diff(null, acct(2), { [word(1)]: [0, 1] }));
    assert.throws(() => s.check(3, diff(acct(1), acct(2))), { code: "UPSTREAM_DIFF_MISMATCH" });
    s.clear();
    s.check(3, diff(acct(1), acct(2)));
  });

  it("stays bounded", () => {
    const s = new CommittedState(10);
    for (let i = 0; i < 100; i++) s.record(diff(acct(i), acct(i + 1), { [word(i)]: [0, 1] }));
    // Whatever it forgot, it never refuses a consistent block.
    s.check(101, diff(acct(100), acct(101)));
  });
});
