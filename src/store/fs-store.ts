import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { StoreError } from "./errors.ts";
import type { ListOptions, ObjectStore } from "./types.ts";

/** Options of the directory store. */
export interface FsStoreOptions {
  /** Root directory; created when missing. */
  dir: string;
  /** fsync every object and its directory before `put` resolves (default true). */
  fsync?: boolean;
}

/**
 * An object store on a local directory: a key `a/b/c` is the file `{dir}/a/b/c`. A put writes a
 * temporary file, fsyncs it and renames it into place, so readers never see a partial object and a
 * crash leaves either the old state or the new one.
 */
export class FsStore implements ObjectStore {
  private readonly dir: string;
  private readonly fsync: boolean;

  constructor(opts: FsStoreOptions) {
    this.dir = opts.dir;
    this.fsync = opts.fsync ?? true;
  }

  private path(key: string): string {
    if (key.length === 0 || key.includes("..") || key.startsWith("/") || key.includes("\\")) {
      throw new StoreError("STORE_IO", `invalid object key ${JSON.stringify(key)}`, { key });
    }
    return join(this.dir, ...key.split("/"));
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const path = this.path(key);
    const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
    try {
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(data);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      if (this.fsync) {
        const dh = await open(dirname(path), "r");
        try {
          await dh.sync();
        } finally {
          await dh.close();
        }
      }
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new StoreError("STORE_IO", `put ${key} failed`, { key }, { cause: err });
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      if ((err as NodeJS.ErrnoException).code === "EISDIR") return undefined;
      if ((err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
      throw new StoreError("STORE_IO", `get ${key} failed`, { key }, { cause: err });
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(this.path(key), "r");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") return undefined;
      throw new StoreError("STORE_IO", `get ${key} failed`, { key }, { cause: err });
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<string[]> {
    // Walk only the directories that can hold keys with this prefix, in sorted order, and stop
    // as soon as `limit` keys are found.
    const out: string[] = [];
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    const startAfter = opts.startAfter ?? "";
    const lastSlash = prefix.lastIndexOf("/");
    const baseKey = lastSlash >= 0 ? prefix.slice(0, lastSlash) : "";
    const walk = async (dirKey: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dirKey === "" ? this.dir : this.path(dirKey));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") return;
        throw new StoreError("STORE_IO", `list ${prefix} failed`, { prefix }, { cause: err });
      }
      names.sort();
      for (const name of names) {
        if (out.length >= limit) return;
        if (name.includes(".tmp-")) continue;
        const key = dirKey === "" ? name : `${dirKey}/${name}`;
        // Prune subtrees that cannot contain a matching key.
        if (!key.startsWith(prefix) && !prefix.startsWith(`${key}/`)) continue;
        // Prune subtrees entirely at or before startAfter.
        if (startAfter && key < startAfter && !startAfter.startsWith(`${key}/`)) continue;
        const st = await stat(join(this.dir, ...key.split("/"))).catch(() => undefined);
        if (!st) continue;
        if (st.isDirectory()) await walk(key);
        else if (key.startsWith(prefix) && key > startAfter) out.push(key);
      }
    };
    await walk(baseKey);
    return out;
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async close(): Promise<void> {}
}
