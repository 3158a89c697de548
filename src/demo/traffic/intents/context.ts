import type { Address } from "viem";
import type { ContractAddresses } from "../contracts.ts";
import type { Sender, StorageSlotRef } from "../types.ts";

/** A slot a round wrote, deleted by its writer in the next round (nonce order within a block). */
export interface Deletion {
  sender: Sender;
  /** A `Store.values` key. */
  key?: bigint;
  /** A raw storage slot number. */
  rawSlot?: bigint;
}

/** What the intents of one round see: its number, the contracts, senders, and what to record. */
export interface RoundContext {
  round: number;
  contracts: ContractAddresses;
  /** The round's i-th sender (the senders rotate by three a round). */
  s(i: number): Sender;
  /** Sender i of all, modulo their number. */
  sender(i: number): Sender;
  /** The position of a sender among all. */
  indexOf(sender: Sender): number;
  /** How many senders there are. */
  senders: number;
  /** A new account no transaction touched before. */
  freshAddress(): Address;
  /** Loop iterations of `Probe.burn`. */
  burnIterations: bigint;
  /** Slots the previous round wrote, to delete in this one. */
  deletes: readonly Deletion[];
  /** Records what the round's transactions did, as the node accepts them. */
  record: {
    written(ref: StorageSlotRef): void;
    deleted(ref: StorageSlotRef): void;
    /** A slot for the next round to delete. */
    toDelete(d: Deletion): void;
    selfDestructed(address: Address): void;
    child(address: Address): void;
    touched(address: Address): void;
  };
}
