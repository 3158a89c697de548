import { padHex } from "../../util/hex.ts";
import { ReadError } from "../../view/index.ts";
import { resolveStateHeight } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { address, blockId, storageSlot } from "../schemas.ts";

/** eth_getStorageAt: a storage word after a block, as 32-byte DATA (the upstream pads it too). */
export const eth_getStorageAt = defineMethod({
  name: "eth_getStorageAt",
  params: params(required("address", address), required("slot", storageSlot), required("block", blockId)),
  handler: ([addr, slot, block], { env }) => {
    const h = resolveStateHeight(env, block);
    const v = env.view.storage(addr, slot, h);
    if (v === undefined) {
      throw new ReadError("STATE_UNAVAILABLE", `storage ${addr}[${slot}] at ${h} is not known`, {
        height: h,
      });
    }
    return padHex(v.toLowerCase(), 32);
  },
});
