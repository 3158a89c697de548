import { EventEmitter } from "node:events";
import type { RpcBlock, RpcLog } from "../format/index.ts";
import type { Hex } from "../util/hex.ts";

/** One block the reader has just applied, as subscriptions see it. */
export interface BlockEvent {
  height: number;
  hash: Hex;
  /** The block as the upstream returned it, with full transaction objects. */
  block: RpcBlock;
  /** The block's logs in order, as its receipts carry them (`removed: false`). */
  logs: RpcLog[];
  /**
   * Logs of blocks a reorg unwound before this block was applied, oldest first. `logs`
   * subscribers receive them again with `removed: true` before this block's logs.
   */
  removed?: RpcLog[];
}

/** Listener of applied blocks. */
export type BlockListener = (event: BlockEvent) => void;

/**
 * What the RPC layer needs from the component that applies blocks: a `block` event after each
 * block is committed to the view. A Node `EventEmitter` satisfies it.
 */
export interface ChainEvents {
  on(event: "block", listener: BlockListener): unknown;
  off(event: "block", listener: BlockListener): unknown;
}

/** A ready `ChainEvents` for composition roots and tests: call `emitBlock` after applying. */
export class ChainEventEmitter implements ChainEvents {
  private readonly emitter = new EventEmitter<{ block: [BlockEvent] }>();

  on(event: "block", listener: BlockListener): this {
    this.emitter.on(event, listener);
    return this;
  }

  off(event: "block", listener: BlockListener): this {
    this.emitter.off(event, listener);
    return this;
  }

  /** Delivers `event` to every listener, synchronously. */
  emitBlock(event: BlockEvent): void {
    this.emitter.emit("block", event);
  }
}
