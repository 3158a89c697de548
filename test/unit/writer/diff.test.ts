import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { keccak256 } from "viem";
import { EMPTY_CODE_HASH, ZERO_WORD } from "../../../src/format/index.ts";
import { foldPrestateDiffs } from "../../../src/writer/diff.ts";

const A = "0x00000000000000000000000000000000000000aa";
const B = "0x00000000000000000000000000000000000000bb";
const C = "0x00000000000000000000000000000000000000cc";
const slot = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as const;

describe("foldPrestateDiffs (geth prestateTracer diffMode semantics)", () => {
  test("folds several transactions: first pre, last post, unchanged fields carried", () => {
    const d = foldPrestateDiffs([
      { pre: { [A]: { balance: "0x64", nonce: 1 } }, post: { [A]: { balance: "0x50", nonce: 2 } } },
      { pre: { [A]: { balance: "0x50", nonce: 2 } }, post: { [A]: { balance: "0x40" } } },
    ]);
    assert.deepEqual(d.accounts[A], {
      pre: { balance: "0x64", nonce: "0x1", codeHash: EMPTY_CODE_HASH },
      post: { balance: "0x40", nonce: "0x2", codeHash: EMPTY_CODE_HASH },
    });
  });

  test("a created contract has pre null, its code kept by hash, and its storage pre zero", () => {
    const code = "0x6001";
    const d = foldPrestateDiffs([
      { pre: {}, post: { [B]: { nonce: 1, code, storage: { [slot(0)]: slot(1) } } } },
    ]);
    assert.equal(d.accounts[B]?.pre, null);
    assert.equal(d.accounts[B]?.post?.codeHash, keccak256(code));
    assert.equal(d.codes[keccak256(code)], code);
    assert.deepEqual(d.storage[B]?.[slot(0)], [ZERO_WORD, slot(1)]);
  });

  test("a slot in pre but not in post was deleted; an account in pre but not post was destroyed", () => {
    const d = foldPrestateDiffs([
      {
        pre: { [B]: { nonce: 1, code: "0x60", storage: { [slot(2)]: slot(9) } }, [C]: { balance: "0x5" } },
        post: { [B]: {} },
      },
    ]);
    assert.deepEqual(d.storage[B]?.[slot(2)], [slot(9), ZERO_WORD]);
    assert.equal(d.accounts[B], undefined, "account fields did not change");
    assert.deepEqual(d.accounts[C]?.post, null);
  });

  test("created and destroyed in one block leaves no account change", () => {
    const d = foldPrestateDiffs([
      { pre: {}, post: { [B]: { nonce: 1, code: "0x60" } } },
      { pre: { [B]: { nonce: 1, code: "0x60" } }, post: {} },
    ]);
    assert.equal(d.accounts[B], undefined);
  });

  test("slot written then restored within the block is no change", () => {
    const d = foldPrestateDiffs([
      {
        pre: { [A]: { nonce: 1, storage: { [slot(1)]: slot(5) } } },
        post: { [A]: { storage: { [slot(1)]: slot(6) } } },
      },
      {
        pre: { [A]: { nonce: 1, storage: { [slot(1)]: slot(6) } } },
        post: { [A]: { storage: { [slot(1)]: slot(5) } } },
      },
    ]);
    assert.equal(d.storage[A], undefined);
  });
});
