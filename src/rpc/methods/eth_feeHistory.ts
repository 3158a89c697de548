import { CommonError } from "../../util/errors.ts";
import { toQuantity } from "../../util/hex.ts";
import { ReadError } from "../../view/index.ts";
import { heightOf, requireTip } from "../block.ts";
import { defineMethod, optional, params, required } from "../context.ts";
import { invalidParams } from "../errors.ts";
import { rewardAt } from "../fees.ts";
import { blockCount, blockNumberOrTag, percentiles } from "../schemas.ts";

/** Most blocks one eth_feeHistory covers (anvil's MAX_BLOCK_COUNT). */
const MAX_BLOCK_COUNT = 1024n;
/** How far back fee history reaches, in blocks (anvil's fee history cache). */
const HISTORY_LIMIT = 2048;

/**
 * eth_feeHistory (https://ethereum.github.io/execution-apis/api-documentation/) as anvil answers
 * it: up to 1024 blocks ending at `newest`, base fees with the next block's appended, gas-used
 * ratios, blob fees and ratios, and rewards at whole-number percentiles.
 */
export const eth_feeHistory = defineMethod({
  name: "eth_feeHistory",
  params: params(
    required("blockCount", blockCount),
    required("newestBlock", blockNumberOrTag),
    // Optional as anvil and geth take it: absent means no rewards (`reward: []`).
    optional("rewardPercentiles", percentiles),
  ),
  handler: ([count, newest, maybePcts], { env }) => {
    const pcts = maybePcts ?? [];
    const view = env.view;
    const tip = requireTip(view);
    const highest = heightOf(tip, newest);
    const n = Number(count < MAX_BLOCK_COUNT ? count : MAX_BLOCK_COUNT);
    const lowest = Math.max(0, highest - Math.max(0, n - 1));
    if (lowest < Math.max(0, tip.height - HISTORY_LIMIT)) {
      throw invalidParams("requested block range is out of bounds", { lowest, tip: tip.height });
    }
    if (lowest < view.earliest() && env.hasUpstream) {
      throw new ReadError("STATE_UNAVAILABLE", "fee history below the earliest held block");
    }
    const baseFeePerGas: string[] = [];
    const gasUsedRatio: number[] = [];
    const baseFeePerBlobGas: string[] = [];
    const blobGasUsedRatio: number[] = [];
    const reward: string[][] = [];
    for (let h = lowest; h <= highest && h <= tip.height; h++) {
      const fees = env.fees.blockFees(h);
      if (!fees) continue;
      baseFeePerGas.push(toQuantity(fees.baseFee));
      gasUsedRatio.push(fees.gasUsedRatio);
      baseFeePerBlobGas.push(toQuantity(fees.blobBaseFee ?? 0n));
      blobGasUsedRatio.push(fees.blobGasUsedRatio);
      if (pcts.length > 0) reward.push(pcts.map((p) => toQuantity(rewardAt(fees, p))));
    }
    const head = env.fees.headFees(tip);
    if (!head) throw new CommonError("INTERNAL", `tip block ${tip.height} is not held`);
    baseFeePerGas.push(toQuantity(head.nextBaseFee));
    baseFeePerBlobGas.push(toQuantity(head.nextBlobBaseFee));
    const out: Record<string, unknown> = { baseFeePerGas, gasUsedRatio, baseFeePerBlobGas };
    // anvil leaves blobGasUsedRatio out when it is empty.
    if (blobGasUsedRatio.length > 0) out.blobGasUsedRatio = blobGasUsedRatio;
    out.oldestBlock = toQuantity(lowest);
    out.reward = reward;
    return out;
  },
});
