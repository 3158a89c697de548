import { keccak256, toHex } from "viem";
import { calldata, GAS, RAW_SLOT_BASE, slotHex, storeValueSlot } from "../contracts.ts";
import type { Intent } from "../types.ts";
import type { RoundContext } from "./context.ts";

/**
 * Storage: the previous round's mapping entry and second raw slot deleted (by their writers, so
 * that nonce order puts each delete after its write); one mapping entry and three raw slots
 * written.
 */
export function storageIntents(ctx: RoundContext): Intent[] {
  const { s, contracts: c, record } = ctx;
  const big = BigInt(ctx.round);
  const intents: Intent[] = [];
  for (const d of ctx.deletes) {
    if (d.key !== undefined) {
      const ref = { address: c.store, slot: storeValueSlot(d.key) };
      intents.push({
        sender: d.sender,
        to: c.store,
        data: calldata("Store", "clear", [d.key]),
        gas: GAS.storeClear,
        kinds: ["storageDelete"],
        slots: [ref.slot],
        onSent: () => record.deleted(ref),
      });
    }
    if (d.rawSlot !== undefined) {
      const ref = { address: c.store, slot: slotHex(d.rawSlot) };
      intents.push({
        sender: d.sender,
        to: c.store,
        data: calldata("Store", "setRaw", [ref.slot, slotHex(0n)]),
        gas: GAS.storeRaw,
        kinds: ["storageDelete"],
        slots: [ref.slot],
        onSent: () => record.deleted(ref),
      });
    }
  }
  const key = big + 1n;
  const setter = s(3);
  const valueRef = { address: c.store, slot: storeValueSlot(key) };
  intents.push({
    sender: setter,
    to: c.store,
    data: calldata("Store", "set", [key, 1000n + big]),
    gas: GAS.storeSet,
    kinds: ["storageWrite"],
    slots: [valueRef.slot, slotHex(1n)],
    onSent: () => {
      record.written(valueRef);
      record.toDelete({ sender: setter, key });
    },
  });
  const rawStart = RAW_SLOT_BASE + big * 4n;
  const rawRefs = [0n, 1n, 2n].map((j) => ({ address: c.store, slot: slotHex(rawStart + j) }));
  const filler = s(5);
  intents.push({
    sender: filler,
    to: c.store,
    data: calldata("Store", "fill", [rawStart, 3n, keccak256(toHex(big))]),
    gas: GAS.storeFill,
    kinds: ["storageWrite"],
    slots: rawRefs.map((x) => x.slot),
    onSent: () => {
      for (const ref of rawRefs) record.written(ref);
      record.toDelete({ sender: filler, rawSlot: rawStart + 1n });
    },
  });
  return intents;
}
