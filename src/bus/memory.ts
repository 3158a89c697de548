import { EventEmitter } from "node:events";
import type { Bus, HeadNotice } from "./types.ts";

/** A bus inside one process. */
export class MemoryBus implements Bus {
  private readonly ee = new EventEmitter();

  constructor() {
    this.ee.setMaxListeners(0);
  }

  async publish(notice: HeadNotice): Promise<void> {
    this.ee.emit(String(notice.chainId), notice);
  }

  subscribe(chainId: number, onNotice: (n: HeadNotice) => void): () => void {
    this.ee.on(String(chainId), onNotice);
    return () => this.ee.off(String(chainId), onNotice);
  }

  async close(): Promise<void> {
    this.ee.removeAllListeners();
  }
}
