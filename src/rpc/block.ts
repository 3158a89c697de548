/**
 * Block parameter resolution, in one place: the default block parameter of the JSON-RPC spec
 * (hex numbers and the `latest` / `pending` / `safe` / `finalized` / `earliest` tags) and
 * EIP-1898 block objects (https://eips.ethereum.org/EIPS/eip-1898).
 */

import type { ChainkeepError } from "../util/errors.ts";
import type { Hex } from "../util/hex.ts";
import type { BlockHeader, ChainTip, ChainView } from "../view/index.ts";
import { ReadError } from "../view/index.ts";
import { invalidParams, RpcError } from "./errors.ts";

/** The block tags of the default block parameter. */
export type BlockTag = "latest" | "pending" | "safe" | "finalized" | "earliest";

/** A parsed block parameter. Numbers may lie above the tip (above 2^53 they lose precision). */
export type BlockSpec =
  | { kind: "tag"; tag: BlockTag }
  | { kind: "number"; number: number }
  | { kind: "hash"; hash: Hex; requireCanonical: boolean };

/** A block number or tag: a block parameter that is not a hash. */
export type NumberOrTag = Exclude<BlockSpec, { kind: "hash" }>;

/** `latest`, the default when a block parameter is absent or null. */
export const LATEST: BlockSpec = { kind: "tag", tag: "latest" };

/** What resolution needs: the view, and whether an upstream can answer what the view lacks. */
export interface BlockEnv {
  view: ChainView;
  hasUpstream: boolean;
}

/** The applied tip; throws RPC_NOT_READY before the first block is applied. */
export function requireTip(view: ChainView): ChainTip {
  const tip = view.tip();
  if (!tip) throw new RpcError("RPC_NOT_READY", "chainkeep is syncing: no block applied yet");
  return tip;
}

/**
 * The height a tag or number names, possibly above the tip. `pending` is `latest` (a mirror has
 * no pending block); `earliest` is block 0, as the upstream answers it, even when this reader
 * holds blocks only from a later height; `safe` and `finalized` are the upstream's, recorded
 * with the tip.
 */
export function heightOf(tip: ChainTip, spec: NumberOrTag): number {
  if (spec.kind === "number") return spec.number;
  switch (spec.tag) {
    case "latest":
    case "pending":
      return tip.height;
    case "safe":
      return tip.safe;
    case "finalized":
      return tip.finalized;
    case "earliest":
      return 0;
  }
}

/**
 * For something this reader does not hold that the upstream may (it holds blocks only from
 * `earliest()` on): throws STATE_UNAVAILABLE, which forwards the request, when an upstream is
 * configured; otherwise returns undefined (the method answers `null`).
 */
export function notHeld(env: BlockEnv): undefined {
  if (env.hasUpstream && env.view.earliest() > 0) {
    throw new ReadError("STATE_UNAVAILABLE", "block below the earliest held block");
  }
  return undefined;
}

/**
 * For methods that return a block or something in it: the height of the held block, or
 * undefined when there is none (the method answers `null`). Throws STATE_UNAVAILABLE (forward
 * to the upstream) for blocks below the earliest held one when an upstream is configured.
 */
export function resolveBlock(env: BlockEnv, spec: BlockSpec): number | undefined {
  const tip = requireTip(env.view);
  if (spec.kind === "hash") {
    const h = env.view.heightByHash(spec.hash);
    return h === undefined ? notHeld(env) : h;
  }
  const h = heightOf(tip, spec);
  if (h > tip.height) return undefined;
  if (h < env.view.earliest()) return notHeld(env);
  return h;
}

/** The hash of the held block at `height` (from the tip when it is the tip: no read). */
export function blockHashAt(view: ChainView, height: number): Hex | undefined {
  const tip = view.tip();
  if (tip?.height === height) return tip.hash;
  return view.header ? view.header(height)?.hash : view.block(height)?.hash;
}

/** The header fields of the held block at `height`, without parsing its transactions when the view can. */
export function headerAt(view: ChainView, height: number): BlockHeader | undefined {
  return view.header ? view.header(height) : view.block(height);
}

/** The error the upstream (anvil) gives for a block number above its head, -32602. */
export function outOfRange(tipHeight: number, requested: number): ChainkeepError {
  return invalidParams(`BlockOutOfRangeError: block height is ${tipHeight} but requested was ${requested}`, {
    tip: tipHeight,
    requested,
  });
}

/**
 * For state methods (balance, code, storage, nonce, calls): the height whose post-state answers.
 * An unknown block hash is -32001 "Resource not found"; a number above the tip is the upstream's
 * -32602 out-of-range error; a height below the earliest held block throws STATE_UNAVAILABLE,
 * which forwards the request to the upstream or answers -32000 "state not available". A held
 * height below the view's `stateFrom()` (history mode `full`) throws STATE_PRUNED: -32000 saying
 * so, never forwarded, never a value.
 */
export function resolveStateHeight(env: BlockEnv, spec: BlockSpec): number {
  const h = resolveHeldStateHeight(env, spec);
  const from = env.view.stateFrom?.();
  if (from !== undefined && h < from) {
    const mode = env.view.historyMode?.();
    throw new ReadError(
      "STATE_PRUNED",
      `state at block ${h} is not kept: this reader keeps state for the last ${mode?.blocks ?? 0} blocks ` +
        `(history mode ${mode?.mode ?? "full"}, from block ${from}); ask an archive node`,
      { height: h, stateFrom: from },
    );
  }
  return h;
}

function resolveHeldStateHeight(env: BlockEnv, spec: BlockSpec): number {
  const tip = requireTip(env.view);
  if (spec.kind === "hash") {
    const h = env.view.heightByHash(spec.hash);
    if (h !== undefined) return h;
    notHeld(env);
    throw new ReadError("BLOCK_NOT_FOUND", `no block with hash ${spec.hash}`, { hash: spec.hash });
  }
  const h = heightOf(tip, spec);
  if (h > tip.height) throw outOfRange(tip.height, h);
  if (h < env.view.earliest()) {
    throw new ReadError("STATE_UNAVAILABLE", `state at ${h} is below the earliest held block`, {
      height: h,
    });
  }
  return h;
}
