import { ReadError } from "../../view/index.ts";
import { resolveStateHeight } from "../block.ts";
import { defineMethod, params, required } from "../context.ts";
import { address, blockId } from "../schemas.ts";
import { accountAt } from "../state.ts";

/** eth_getCode: the code after a block; "0x" for accounts without code. */
export const eth_getCode = defineMethod({
  name: "eth_getCode",
  params: params(required("address", address), required("block", blockId)),
  handler: ([addr, block], { env }) => {
    const a = accountAt(env, addr, resolveStateHeight(env, block));
    if (!a) return "0x";
    const code = env.view.code(a.codeHash);
    if (code === undefined) {
      throw new ReadError("STATE_UNAVAILABLE", `code ${a.codeHash} is not held`, {
        codeHash: a.codeHash,
      });
    }
    return code.toLowerCase();
  },
});
