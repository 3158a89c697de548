import { randomBytes } from "node:crypto";
import { type FSWatcher, mkdirSync, watch } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../util/logger.ts";
import type { Bus, HeadNotice } from "./types.ts";

/** Options of the file-system bus. */
export interface FsBusOptions {
  /** Directory shared by the processes on this machine. */
  dir: string;
}

/**
 * A bus for processes on one machine: the publisher atomically replaces `{dir}/{chainId}.head`
 * with the latest notice; subscribers watch the directory. Only the latest notice is kept, which
 * is all a reader needs (it lists the store from its own height on).
 */
export class FsBus implements Bus {
  private readonly watchers = new Set<FSWatcher>();

  constructor(
    private readonly opts: FsBusOptions,
    private readonly deps: { logger: Logger },
  ) {
    mkdirSync(opts.dir, { recursive: true });
  }

  async publish(notice: HeadNotice): Promise<void> {
    const file = join(this.opts.dir, `${notice.chainId}.head`);
    const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(tmp, JSON.stringify(notice));
    await rename(tmp, file);
  }

  subscribe(chainId: number, onNotice: (n: HeadNotice) => void): () => void {
    const name = `${chainId}.head`;
    const file = join(this.opts.dir, name);
    let last = "";
    const read = () => {
      readFile(file, "utf8")
        .then((text) => {
          if (text === last) return;
          last = text;
          onNotice(JSON.parse(text) as HeadNotice);
        })
        .catch(() => {});
    };
    const w = watch(this.opts.dir, (_event, filename) => {
      if (filename === name) read();
    });
    w.on("error", (err) => this.deps.logger.warn({ err: err.message }, "fs bus watcher failed"));
    this.watchers.add(w);
    return () => {
      w.close();
      this.watchers.delete(w);
    };
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers.clear();
  }
}
