import { calldata, GAS, MAX_UINT256 } from "../contracts.ts";
import type { Intent } from "../types.ts";
import type { RoundContext } from "./context.ts";

/** ERC-20: a transfer, an approve (renewing the standing approval), a transferFrom using it. */
export function erc20Intents(ctx: RoundContext): Intent[] {
  const { s, contracts: c } = ctx;
  const spender = s(4);
  const owner = ctx.sender(ctx.indexOf(spender) + ctx.senders - 1);
  return [
    {
      sender: s(2),
      to: c.token,
      data: calldata("Token", "transfer", [s(4).address, 10n ** 18n + BigInt(ctx.round)]),
      gas: GAS.tokenTransfer,
      kinds: ["erc20"],
    },
    {
      sender: owner,
      to: c.token,
      data: calldata("Token", "approve", [spender.address, MAX_UINT256]),
      gas: GAS.tokenApprove,
      kinds: ["erc20"],
    },
    {
      sender: spender,
      to: c.token,
      data: calldata("Token", "transferFrom", [owner.address, ctx.freshAddress(), 7n * 10n ** 17n]),
      gas: GAS.tokenTransfer,
      kinds: ["erc20"],
    },
  ];
}
