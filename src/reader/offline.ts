/**
 * Operator actions on a stopped reader's database (`chainkeep reader backtrack|switch
 * --data-dir`). They take the data directory's lock, so they never run beside a reader, and
 * leave re-applying to the reader's next start.
 */
import { CommonError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { ChainDb } from "./db/chain-db.ts";
import type { PrefixSwitch } from "./db/records.ts";
import { lockDataDir } from "./lock.ts";

async function withDb<T>(dataDir: string, fn: (db: ChainDb) => T): Promise<T> {
  const release = await lockDataDir(dataDir);
  try {
    const info = await ChainDb.readInfo(dataDir);
    if (!info) throw new CommonError("CONFIG_INVALID", `no reader database in ${dataDir}`, { dataDir });
    const db = new ChainDb({ path: dataDir, chainId: info.chainId });
    try {
      return fn(db);
    } finally {
      await db.close();
    }
  } finally {
    await release();
  }
}

/**
 * Rewinds a stopped reader's database to `height` (kept), in bounded crash-safe steps; the reader
 * re-applies the blocks above from the store when it starts.
 */
export function backtrackOffline(
  dataDir: string,
  height: number,
  deps: { logger: Logger },
): Promise<{ from: number; to: number }> {
  return withDb(dataDir, (db) => {
    db.startBacktrack(height);
    const res = db.continueUnwind();
    deps.logger.info({ from: res?.from, to: height }, "backtracked; the reader re-applies when started");
    return { from: res?.from ?? height, to: height };
  });
}

/**
 * Makes a stopped reader follow writer line `prefix`: records the switch and resets the database
 * to `applied − 2·reorgMax`; the reader verifies the new line links there when it starts.
 * Undefined when it already follows `prefix`.
 */
export function switchOffline(
  dataDir: string,
  prefix: string,
  deps: { logger: Logger },
): Promise<PrefixSwitch | undefined> {
  return withDb(dataDir, (db) => {
    const sw = db.startSwitch(prefix);
    db.continueUnwind();
    if (sw) deps.logger.info({ from: sw.previous, to: prefix, resetTo: sw.height }, "switched writer line");
    return sw;
  });
}
